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

/// Mean and sample standard deviation.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    (mean, variance.sqrt())
}

fn main() {
    let threads: i32 = std::env::var("MEDSIM_BENCH_THREADS").ok().and_then(|value| value.parse().ok()).unwrap_or(2);
    let path = installed(registry::DEFAULT_CHAT_MODEL).join(GGUF_FILE);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let knob = |name: &str| std::env::var(name).ok().and_then(|value| value.parse::<u32>().ok());
    let defaults = LlamaConfig::default();
    let config = LlamaConfig {
        threads,
        context_tokens: knob("MEDSIM_BENCH_CONTEXT").unwrap_or(defaults.context_tokens),
        parallel: knob("MEDSIM_BENCH_PARALLEL").unwrap_or(defaults.parallel),
        batch_tokens: knob("MEDSIM_BENCH_BATCH").unwrap_or(defaults.batch_tokens),
        ..defaults
    };
    println!("context {} tokens, {} sequences, batch {}", config.context_tokens, config.parallel, config.batch_tokens);
    let model = Arc::new(LlamaChatModel::load(&path, "local/bench", config).unwrap());
    println!("model loaded in {:.2}s with {threads} threads", started.elapsed().as_secs_f64());

    runtime.block_on(async {
        // Warm-up.
        let mut warm = ChatRequest::new(vec![Message::user("Say hello.")]);
        warm.params.max_tokens = Some(8);
        model.chat(&warm).await.unwrap();

        let repeats = knob("MEDSIM_BENCH_REPEATS").unwrap_or(3).max(1) as usize;
        let mut single_generation = 0.0;
        for concurrency in [1usize, 2, 4] {
            let mut prompt_rates = Vec::new();
            let mut generation_rates = Vec::new();
            let mut prompt_tokens = 0;
            let mut generated = 0;
            let mut wall = 0.0;
            for repeat in 0..repeats {
                let before = model.timings().unwrap();
                let started = Instant::now();
                // Every prompt is new (index, concurrency and repeat differ), so no prefix is reused.
                let calls = (0..concurrency).map(|index| {
                    let model = model.clone();
                    async move {
                        let text = prompt(index + concurrency * 10 + repeat * 100, 300);
                        let mut request = ChatRequest::new(vec![Message::user(text)]);
                        request.params.max_tokens = Some(128);
                        request.params.temperature = Some(0.0);
                        model.chat(&request).await.unwrap()
                    }
                });
                futures::future::join_all(calls).await;
                wall += started.elapsed().as_secs_f64();
                let after = model.timings().unwrap();
                prompt_tokens = after.prompt_tokens - before.prompt_tokens;
                generated = after.generated_tokens - before.generated_tokens;
                prompt_rates.push(prompt_tokens as f64 / ((after.prompt_ms - before.prompt_ms) / 1000.0));
                generation_rates.push(generated as f64 / ((after.generation_ms - before.generation_ms) / 1000.0));
            }
            if std::env::var_os("MEDSIM_BENCH_VERBOSE").is_some() {
                println!("  prompt rates {prompt_rates:.1?}, generation rates {generation_rates:.1?}");
            }
            let (prompt_rate, prompt_sd) = mean_sd(&prompt_rates);
            let (generation_rate, generation_sd) = mean_sd(&generation_rates);
            if concurrency == 1 {
                single_generation = generation_rate;
            }
            println!(
                "concurrency {concurrency}: prompt {prompt_tokens} tokens at {prompt_rate:.1} ± {prompt_sd:.1} tok/s; generation {generated} tokens at {generation_rate:.1} ± {generation_sd:.1} tok/s aggregate ({:.2}x one request); mean wall {:.2}s over {repeats} runs",
                generation_rate / single_generation,
                wall / repeats as f64
            );
        }

        // Generation from a nearly empty context, comparable with llama-bench's tg128 (the runs above
        // generate after a 321-token prompt, comparable with its tg128 @ d321).
        let mut rates = Vec::new();
        let mut generated = 0;
        for repeat in 0..repeats {
            let before = model.timings().unwrap();
            let text = format!("Essay {repeat}: write a long essay about the heart.");
            let mut request = ChatRequest::new(vec![Message::user(text)]);
            request.params.max_tokens = Some(128);
            request.params.temperature = Some(0.0);
            let response = model.chat(&request).await.unwrap();
            let after = model.timings().unwrap();
            generated = after.generated_tokens - before.generated_tokens;
            rates.push(generated as f64 / ((after.generation_ms - before.generation_ms) / 1000.0));
            if repeat == 0 {
                println!("short prompt: {} prompt tokens", response.usage.prompt_tokens);
            }
        }
        let (rate, sd) = mean_sd(&rates);
        println!("generation after a short prompt: {generated} tokens at {rate:.1} ± {sd:.1} tok/s");
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
