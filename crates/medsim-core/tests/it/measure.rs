//! Grounded-measurement recall on the public files: for every stored result leaf, a request
//! phrased as a clinician would (the result's own name, its panel's name, the panel's usual
//! abbreviation) must return the stored value verbatim.

use medsim_core::finding::display_name;
use medsim_core::measure::{GroundedMeasurement, normalise};
use medsim_core::{LoadOptions, load_path};

use crate::shared_file;

/// Usual abbreviations of panel names, as clinicians write them.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("complete blood count", "CBC"),
    ("basic metabolic panel", "BMP"),
    ("comprehensive metabolic panel", "CMP"),
    ("liver function tests", "LFTs"),
    ("electrocardiogram", "ECG"),
    ("chest x ray", "CXR"),
    ("arterial blood gas", "ABG"),
    ("urinalysis", "UA"),
    ("thyroid function tests", "TFTs"),
    ("lumbar puncture", "LP"),
    ("echocardiogram", "echo"),
    ("electromyography", "EMG"),
    ("pulmonary function tests", "PFTs"),
];

fn is_generic(name: &str) -> bool {
    let tokens = normalise(name);
    tokens.iter().all(|token| {
        ["findings", "finding", "result", "results", "level", "levels", "report", "value", "values", "test", "tests"]
            .contains(&token.as_str())
    })
}

fn recall(file: &str) -> (usize, usize, Vec<String>) {
    let dataset = load_path(&shared_file(file), None, LoadOptions::default()).unwrap();
    let (mut found, mut asked, mut misses) = (0, 0, Vec::new());
    for case in &dataset.cases {
        let measurement = GroundedMeasurement::new(case);
        // How often each name occurs in the case: an ambiguous name ("Inspection" under several
        // systems) is asked for with its panel ("abdominal examination inspection").
        let mut counts = std::collections::HashMap::new();
        for tree in [&case.exam, &case.tests] {
            for leaf in tree.leaves() {
                if let Some(name) = leaf.path.last() {
                    *counts.entry(normalise(name)).or_insert(0) += 1;
                }
            }
        }
        for (root, tree) in [("exam", &case.exam), ("tests", &case.tests)] {
            for leaf in tree.leaves() {
                let value = leaf.text.trim();
                if value.is_empty() {
                    continue;
                }
                let mut phrasings = Vec::new();
                // The result's own name, or its parent's when the name says nothing ("Findings").
                let specific = leaf.path.iter().rposition(|name| !is_generic(name));
                match specific {
                    Some(position) => {
                        let name = leaf.path[position];
                        let ambiguous = counts.get(&normalise(name)).copied().unwrap_or(0) > 1;
                        let phrase = match (ambiguous, position.checked_sub(1)) {
                            (true, Some(parent)) => {
                                format!("{} {}", display_name(leaf.path[parent]), display_name(name))
                            }
                            _ => display_name(name),
                        };
                        phrasings.push(phrase.to_lowercase());
                    }
                    None if root == "exam" => phrasings.push("physical examination".to_owned()),
                    None => {}
                }
                if let Some(panel) = leaf.path.first().filter(|panel| !is_generic(panel)) {
                    let panel_phrase = display_name(panel).to_lowercase();
                    if !phrasings.contains(&panel_phrase) {
                        phrasings.push(panel_phrase.clone());
                    }
                    let canonical = normalise(&panel_phrase);
                    for (name, abbreviation) in ABBREVIATIONS {
                        if normalise(name) == canonical {
                            phrasings.push((*abbreviation).to_owned());
                        }
                    }
                }
                for phrase in phrasings {
                    asked += 1;
                    let result = measurement.measure(&phrase);
                    if result.result.contains(value) {
                        found += 1;
                    } else {
                        misses.push(format!(
                            "case {} {}.{}: asked {phrase:?} got {:?}",
                            case.id,
                            root,
                            leaf.dotted(),
                            result.matched
                        ));
                    }
                }
            }
        }
    }
    (found, asked, misses)
}

#[test]
fn grounded_measurement_recall_on_the_shared_files() {
    let mut total = (0, 0);
    for file in ["agentclinic_medqa.jsonl", "agentclinic_nejm.jsonl", "agentclinic_nejm_extended.jsonl"] {
        let (found, asked, misses) = recall(file);
        eprintln!("{file}: {found}/{asked} = {:.2}% ({} misses)", 100.0 * found as f64 / asked as f64, misses.len());
        for miss in misses.iter().take(15) {
            eprintln!("  {miss}");
        }
        total.0 += found;
        total.1 += asked;
    }
    let recall = total.0 as f64 / total.1 as f64;
    eprintln!("overall grounded-measurement recall: {}/{} = {:.3}%", total.0, total.1, 100.0 * recall);
    assert!(recall >= 0.99, "recall {recall:.4} below the 99 % goal");
    // Pinned: a change to the matcher that moves this must be explained.
    assert_eq!(total, (3332, 3334));
}
