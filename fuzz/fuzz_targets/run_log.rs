//! Any bytes as episodes.jsonl: the reader never panics, and a prefix of a log (a writer caught
//! mid-line) reads as whole records only.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use medsim_engine::runlog::read_records;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("episodes.jsonl");
    if let Ok(records) = read_records(std::io::Cursor::new(data), path) {
        let cut = data.len() / 2;
        if let Ok(prefix) = read_records(std::io::Cursor::new(&data[..cut]), path) {
            assert!(prefix.len() <= records.len());
        }
    }
});
