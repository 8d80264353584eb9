//! Any bytes as a case file (JSON Lines, a JSON array, YAML): loading never panics, and what it
//! loads keeps its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medsim_core::{LoadOptions, load_bytes};

fuzz_target!(|data: &[u8]| {
    for skip_invalid in [false, true] {
        if let Ok(dataset) = load_bytes(data, "fuzz", "fuzz", LoadOptions { skip_invalid }) {
            assert!(dataset.rejected.len() <= dataset.rejected_count);
            assert!(!dataset.cases.is_empty() || dataset.rejected_count > 0, "an empty file is an error");
            let mut ids: Vec<&str> = dataset.cases.iter().map(|case| case.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), dataset.cases.len(), "case ids are unique");
        }
    }
});
