//! Benchmark (not a test): prompt and generation throughput of the embedded model for 1, 2 and
//! 4 concurrent requests, and embeddings per second. Compare with llama.cpp's own `llama-bench`
//! on the same GGUF and thread count (see BENCHMARKS.md for the command).
//!
//! Run: `cargo bench -p medsim-local --bench throughput` (the models must be installed:
//! `medsim models pull`). `MEDSIM_BENCH_MODEL=qwen2.5-coder-1.5b-instruct` measures another
//! registered chat model (default: the main job's).

use std::sync::Arc;
use std::time::Instant;

use medsim_llm::types::{ChatRequest, Message};
use medsim_llm::{ChatModel, Embedder};
use medsim_local::embed::MiniLmEmbedder;
use medsim_local::llama::{LlamaChatModel, LlamaConfig};
use medsim_local::registry::{self, GGUF_FILE};

fn installed(name: &str) -> std::path::PathBuf {
    let data_dir = medsim_local::default_data_dir().expect("data dir");
    let model =
        registry::find(name).unwrap_or_else(|| panic!("{name} is not a registered model (see `medsim models list`)"));
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
fn mean_sd(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let values: Vec<f64> = values.collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    (mean, variance.sqrt())
}

/// One round of concurrent greedy requests, measured by the engine's decode timings.
struct Run {
    /// Prompt tokens decoded (the chat template's fixed preamble may come from the KV cache).
    prompt_tokens: u64,
    /// Prompt tokens in the requests.
    requested: u64,
    generated: u64,
    prompt_rate: f64,
    generation_rate: f64,
    wall: f64,
}

/// Sends every text at once (128 tokens each, greedy) and reads the engine's timings around it.
async fn measure(model: &Arc<LlamaChatModel>, texts: Vec<String>) -> Run {
    let before = model.timings().unwrap();
    let started = Instant::now();
    let calls = texts.into_iter().map(|text| {
        let model = model.clone();
        async move {
            let mut request = ChatRequest::new(vec![Message::user(text)]);
            request.params.max_tokens = Some(128);
            request.params.temperature = Some(0.0);
            model.chat(&request).await.unwrap()
        }
    });
    let responses = futures::future::join_all(calls).await;
    let wall = started.elapsed().as_secs_f64();
    let after = model.timings().unwrap();
    let prompt_tokens = after.prompt_tokens - before.prompt_tokens;
    let generated = after.generated_tokens - before.generated_tokens;
    Run {
        prompt_tokens,
        requested: responses.iter().map(|response| response.usage.prompt_tokens).sum(),
        generated,
        prompt_rate: prompt_tokens as f64 / ((after.prompt_ms - before.prompt_ms) / 1000.0),
        generation_rate: generated as f64 / ((after.generation_ms - before.generation_ms) / 1000.0),
        wall,
    }
}

fn per_run(runs: &[Run]) -> String {
    let rates: Vec<String> =
        runs.iter().map(|run| format!("{:.1}/{:.1}", run.prompt_rate, run.generation_rate)).collect();
    format!("prompt/generation tok/s {}", rates.join(", "))
}

fn main() {
    let threads: i32 = std::env::var("MEDSIM_BENCH_THREADS").ok().and_then(|value| value.parse().ok()).unwrap_or(2);
    let name = std::env::var("MEDSIM_BENCH_MODEL").unwrap_or_else(|_| registry::DEFAULT_CHAT_MODEL.to_string());
    let path = installed(&name).join(GGUF_FILE);
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
    println!("{name} loaded in {:.2}s with {threads} threads", started.elapsed().as_secs_f64());

    runtime.block_on(async {
        // Warm-up.
        let mut warm = ChatRequest::new(vec![Message::user("Say hello.")]);
        warm.params.max_tokens = Some(8);
        model.chat(&warm).await.unwrap();

        let repeats = knob("MEDSIM_BENCH_REPEATS").unwrap_or(3).max(1) as usize;
        let mut single_generation = 0.0;
        for concurrency in [1usize, 2, 4] {
            // Every prompt is new after the chat template's fixed preamble (index, concurrency and
            // repeat differ), so only that preamble can come from the KV cache.
            let mut runs = Vec::new();
            for repeat in 0..repeats {
                let texts = (0..concurrency).map(|index| prompt(index + concurrency * 10 + repeat * 100, 300)).collect();
                runs.push(measure(&model, texts).await);
            }
            let (prompt_rate, prompt_sd) = mean_sd(runs.iter().map(|run| run.prompt_rate));
            let (generation_rate, generation_sd) = mean_sd(runs.iter().map(|run| run.generation_rate));
            if concurrency == 1 {
                single_generation = generation_rate;
            }
            let last = runs.last().expect("at least one run");
            println!(
                "concurrency {concurrency}: prompt {} tokens read (of {}) at {prompt_rate:.1} ± {prompt_sd:.1} tok/s; generation {} tokens at {generation_rate:.1} ± {generation_sd:.1} tok/s aggregate ({:.2}x one request); mean wall {:.2}s over {repeats} runs",
                last.prompt_tokens,
                last.requested,
                last.generated,
                generation_rate / single_generation,
                runs.iter().map(|run| run.wall).sum::<f64>() / repeats as f64
            );
            println!("  per run: {}", per_run(&runs));
        }

        // Generation from a nearly empty context, comparable with llama-bench's tg128 (the runs above
        // generate after a 321-token prompt, comparable with its tg128 @ d321).
        let mut runs = Vec::new();
        for repeat in 0..repeats {
            runs.push(measure(&model, vec![format!("Essay {repeat}: write a long essay about the heart.")]).await);
        }
        let (rate, sd) = mean_sd(runs.iter().map(|run| run.generation_rate));
        println!(
            "generation after a {}-token prompt: {} tokens at {rate:.1} ± {sd:.1} tok/s",
            runs[0].requested, runs[0].generated
        );
        println!("  per run: {}", per_run(&runs));
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
