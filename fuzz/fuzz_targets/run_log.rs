//! Any bytes as episodes.jsonl: the reader never panics on the log or on any prefix of it (a
//! writer caught mid-line), and a prefix cut at a line boundary never reads more records than the
//! whole. (A cut inside a line may end on a record that more bytes on the same line would spoil,
//! e.g. a whole record followed by garbage and no newline; no writer produces that line, so the
//! count is compared at line boundaries only.)
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use medsim_engine::runlog::read_records;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("episodes.jsonl");
    let whole = read_records(std::io::Cursor::new(data), path);
    let cut = data.len() / 2;
    let _ = read_records(std::io::Cursor::new(&data[..cut]), path);
    if let Ok(records) = whole {
        let boundary = data[..cut].iter().rposition(|byte| *byte == b'\n').map_or(0, |position| position + 1);
        if let Ok(prefix) = read_records(std::io::Cursor::new(&data[..boundary]), path) {
            assert!(prefix.len() <= records.len());
        }
    }
});
