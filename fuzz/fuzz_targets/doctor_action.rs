//! The doctor's turn in both protocols: any text through the tolerant and the strict
//! (AgentClinic) readers, and any JSON as the arguments of each tool call.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medsim_core::action::{parse_strict, parse_text, split_tests};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tolerant = parse_text(&text);
    for test in &tolerant.tests {
        assert!(!test.is_empty() && test.len() <= 120, "test names are trimmed and bounded");
    }
    let _ = parse_strict(&text);
    let _ = split_tests(&text);
    if let Ok(arguments) = serde_json::from_slice::<serde_json::Value>(data) {
        for name in ["ask", "order_tests", "request_images", "diagnose", "unknown"] {
            let call = medsim_llm::ToolCall { id: "c".into(), name: name.into(), arguments: arguments.clone() };
            let _ = medsim_agents::action_from_tool(&call);
        }
    }
});
