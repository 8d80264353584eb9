//! Benchmark (not a test): prompt and generation throughput of the embedded model for 1, 2 and
//! 4 concurrent requests, and embeddings per second. Compare with llama.cpp's own `llama-bench`
//! on the same GGUF and thread count (see BENCHMARKS.md for the command).
//!
//! Run: `cargo bench -p medsim-local --bench throughput` (the models must be installed:
//! `medsim models pull`).

use std::sync::Arc;
use std::time::Instant;

use medsim_llm::types::{ChatRequest, Message};
use medsim_llm::{ChatModel, Embedder};
use medsim_local::embed::MiniLmEmbedder;
use medsim_local::llama::{LlamaChatModel, LlamaConfig};
use medsim_local::registry::{self, GGUF_FILE};

fn installed(name: &str) -> std::path::PathBuf {
    let data_dir = medsim_local::default_data_dir().expect("data dir");
    let model = registry::find(name).unwrap();
    assert!(medsim_local::pull::is_installed(&data_dir, model), "run `medsim models pull` first");
    medsim_local::pull::install_dir(&data_dir, model)
}

/// A prompt of roughly `words` words, different per index so no prefix is shared.
fn prompt(index: usize, words: usize) -> String {
    let topics = ["the heart", "the lungs", "the kidneys", "the liver", "the brain", "the skin"];
    let mut text =
        format!("Case {index}. Write a detailed clinical essay about {}. Background: ", topics[index % topics.len()]);
    for word in 0..words {
        text.push_str(["patient ", "history ", "exam ", "finding ", "result ", "plan "][(word + index) % 6]);
    }
    text
}

fn main() {
    let threads: i32 = std::env::var("MEDSIM_BENCH_THREADS").ok().and_then(|value| value.parse().ok()).unwrap_or(2);
    let path = installed(registry::DEFAULT_CHAT_MODEL).join(GGUF_FILE);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let config = LlamaConfig { threads, ..LlamaConfig::default() };
    let model = Arc::new(LlamaChatModel::load(&path, "local/bench", config).unwrap());
    println!("model loaded in {:.2}s with {threads} threads", started.elapsed().as_secs_f64());

    runtime.block_on(async {
        // Warm-up.
        let mut warm = ChatRequest::new(vec![Message::user("Say hello.")]);
        warm.params.max_tokens = Some(8);
        model.chat(&warm).await.unwrap();

        let mut single_generation = 0.0;
        for concurrency in [1usize, 2, 4] {
            let before = model.timings().unwrap();
            let wall = Instant::now();
            let calls = (0..concurrency).map(|index| {
                let model = model.clone();
                async move {
                    let mut request = ChatRequest::new(vec![Message::user(prompt(index + concurrency * 10, 300))]);
                    request.params.max_tokens = Some(128);
                    request.params.temperature = Some(0.0);
                    model.chat(&request).await.unwrap()
                }
            });
            let responses = futures::future::join_all(calls).await;
            let elapsed = wall.elapsed().as_secs_f64();
            let after = model.timings().unwrap();
            let prompt_tokens = after.prompt_tokens - before.prompt_tokens;
            let generated = after.generated_tokens - before.generated_tokens;
            let prompt_rate = prompt_tokens as f64 / ((after.prompt_ms - before.prompt_ms) / 1000.0);
            let generation_rate = generated as f64 / ((after.generation_ms - before.generation_ms) / 1000.0);
            let completion: u64 = responses.iter().map(|response| response.usage.completion_tokens).sum();
            if concurrency == 1 {
                single_generation = generation_rate;
            }
            println!(
                "concurrency {concurrency}: prompt {prompt_tokens} tokens at {prompt_rate:.1} tok/s; generation {generated} tokens at {generation_rate:.1} tok/s aggregate ({:.2}x one request); wall {elapsed:.2}s, {completion} completion tokens",
                generation_rate / single_generation
            );
        }
    });

    let embedder = MiniLmEmbedder::load(&installed(registry::DEFAULT_EMBEDDER)).unwrap();
    let texts: Vec<String> = (0..256).map(|index| prompt(index, 20 + index % 30)).collect();
    embedder.embed_blocking(&texts[..8]).unwrap();
    let started = Instant::now();
    let vectors = runtime.block_on(embedder.embed(&texts)).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "embeddings: {} texts (20-50 words) in {elapsed:.2}s = {:.1} texts/s",
        vectors.len(),
        vectors.len() as f64 / elapsed
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|line| line.starts_with("VmHWM")) {
        println!("peak resident memory (chat model + embedder loaded): {}", line.trim_start_matches("VmHWM:").trim());
    }
}
