//! Retrieval from experience memory as it grows: p50 / p99 query latency and recall@3 against
//! an exact scan, at 1k, 10k and 100k entries of 384 dimensions (MiniLM's size).
//!
//! The vectors are synthetic but shaped like sentence embeddings of consultations: 400 topics
//! (random unit centres), each entry its topic's centre plus noise, so neighbours exist, as
//! they do for real cases. Queries are fresh draws from the same topics.
//!
//!   cargo bench -p medsim-agents --bench retrieval

use std::time::Instant;

use medsim_agents::memory::VectorIndex;

const DIMENSIONS: usize = 384;
const TOPICS: usize = 400;
const QUERIES: usize = 1000;
const K: usize = 3;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

fn unit(rng: &mut Rng) -> Vec<f32> {
    let vector: Vec<f32> = (0..DIMENSIONS).map(|_| rng.gaussian()).collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.into_iter().map(|x| x / norm).collect()
}

fn draw(rng: &mut Rng, centres: &[Vec<f32>]) -> Vec<f32> {
    let centre = &centres[(rng.next() % centres.len() as u64) as usize];
    // Noise of about the centre's own length: cosine to the centre near 0.7.
    let noise = unit(rng);
    centre.iter().zip(noise).map(|(c, n)| c + n).collect()
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

fn main() {
    let mut rng = Rng(2026);
    let centres: Vec<Vec<f32>> = (0..TOPICS).map(|_| unit(&mut rng)).collect();
    println!("| entries | index | build | p50 query | p99 query | recall@{K} | exact scan, mean |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for size in [1_000usize, 10_000, 100_000] {
        let mut index = VectorIndex::new(DIMENSIONS);
        for _ in 0..size {
            index.push(&draw(&mut rng, &centres));
        }
        let started = Instant::now();
        index.maybe_build();
        let build = started.elapsed();
        let queries: Vec<Vec<f32>> = (0..QUERIES)
            .map(|_| {
                let vector = draw(&mut rng, &centres);
                let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
                vector.into_iter().map(|x| x / norm).collect()
            })
            .collect();
        let mut latencies = Vec::with_capacity(QUERIES);
        let mut hits = 0usize;
        for query in &queries {
            let started = Instant::now();
            let found = index.search(query, K, |_| true);
            latencies.push(started.elapsed().as_secs_f64() * 1e3);
            let exact = index.search_exact(query, K);
            hits += found.iter().filter(|(slot, _)| exact.iter().any(|(truth, _)| truth == slot)).count();
        }
        latencies.sort_by(f64::total_cmp);
        let started = Instant::now();
        for query in queries.iter().take(100) {
            std::hint::black_box(index.search_exact(query, K));
        }
        let exact_ms = started.elapsed().as_secs_f64() * 1e3 / 100.0;
        println!(
            "| {size} | {} | {:.0} ms | {:.3} ms | {:.3} ms | {:.3} | {exact_ms:.3} ms |",
            if index.is_indexed() { "inverted file" } else { "exact scan" },
            build.as_secs_f64() * 1e3,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            hits as f64 / (QUERIES * K) as f64
        );
    }
}
