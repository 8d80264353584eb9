//! The local embedder reproduces sentence-transformers' vectors (reference computed once with
//! sentence-transformers 6.2 / PyTorch on the same model files, pinned in
//! `tests/fixtures/minilm-reference.json`; the fourth text is longer than 256 tokens and so
//! also checks truncation).

use medsim_llm::Embedder;
use medsim_local::embed::MiniLmEmbedder;
use medsim_local::registry::DEFAULT_EMBEDDER;

use crate::installed;

#[test]
fn embeddings_match_sentence_transformers() {
    let reference: serde_json::Value = serde_json::from_str(include_str!("../fixtures/minilm-reference.json")).unwrap();
    let texts: Vec<String> =
        reference["texts"].as_array().unwrap().iter().map(|text| text.as_str().unwrap().to_owned()).collect();
    let expected: Vec<Vec<f32>> = reference["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    let embedder = MiniLmEmbedder::load(&installed(DEFAULT_EMBEDDER)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Together (padded batch) and one by one must both match.
    let batched = runtime.block_on(embedder.embed(&texts)).unwrap();
    for (index, text) in texts.iter().enumerate() {
        let single = runtime.block_on(embedder.embed(std::slice::from_ref(text))).unwrap();
        for vectors in [&batched[index], &single[0]] {
            assert_eq!(vectors.len(), 384);
            let worst = vectors.iter().zip(&expected[index]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4, "text {index}: largest difference {worst}");
        }
    }
    assert_eq!(embedder.dimensions(), 384);
}
