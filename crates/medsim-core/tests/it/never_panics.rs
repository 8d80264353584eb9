//! No input makes the loader panic: arbitrary JSON records, arbitrary bytes, and mutations of
//! real records all give cases or errors.

use medsim_core::{LoadOptions, load_bytes};
use proptest::prelude::*;
use serde_json::Value;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("OSCE_Examination".to_owned()),
            Just("Correct_Diagnosis".to_owned()),
            Just("Patient_Actor".to_owned()),
            Just("Objective_for_Doctor".to_owned()),
            Just("Test_Results".to_owned()),
            Just("answers".to_owned()),
            Just("correct".to_owned()),
            Just("text".to_owned()),
            Just("question".to_owned()),
            Just("patient_info".to_owned()),
            Just("diagnosis".to_owned()),
            Just("patient".to_owned()),
            Just("images".to_owned()),
            Just("options".to_owned()),
            Just("source".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_lines_never_panic(records in prop::collection::vec(arbitrary_json(), 1..4), skip in any::<bool>()) {
        let text: String = records.iter().map(|record| serde_json::to_string(record).unwrap() + "\n").collect();
        let _ = load_bytes(text.as_bytes(), "fuzz.jsonl", "fuzz", LoadOptions { skip_invalid: skip });
        let yaml: String = records.iter().map(|record| serde_yaml_ng::to_string(record).unwrap()).collect::<Vec<_>>().join("---\n");
        let _ = load_bytes(yaml.as_bytes(), "fuzz.yaml", "fuzz", LoadOptions { skip_invalid: skip });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = load_bytes(&bytes, "bytes", "bytes", LoadOptions { skip_invalid: true });
        let _ = load_bytes(&bytes, "bytes", "bytes", LoadOptions::default());
    }

    #[test]
    fn truncated_real_records_never_panic(cut in 0usize..2000, skip in any::<bool>()) {
        let text = std::fs::read_to_string(crate::shared_file("agentclinic_nejm.jsonl")).unwrap();
        let end = text.char_indices().map(|(index, _)| index).find(|index| *index >= cut).unwrap_or(text.len());
        let _ = load_bytes(&text.as_bytes()[..end], "cut.jsonl", "cut", LoadOptions { skip_invalid: skip });
    }
}
