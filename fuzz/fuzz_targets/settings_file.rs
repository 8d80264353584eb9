//! Any text as medsim.toml: parsing either yields settings that passed every check or an error
//! naming a line of the file; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match medsim_llm::settings_file::parse(text, "medsim.toml") {
        Ok(settings) => assert!(settings.validate().is_ok()),
        Err(error) => assert!(error.line >= 1 && error.line <= text.lines().count().max(1) + 1, "{error}"),
    }
});
