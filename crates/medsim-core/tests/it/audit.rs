//! The leak audit on the public files: counts are pinned so a change to the matcher that finds
//! more or fewer leaks is noticed and explained.

use std::collections::BTreeSet;

use medsim_core::audit::{Audience, LeakKind, audit};
use medsim_core::{LoadOptions, load_path};

use crate::shared_file;

fn leaking_cases(file: &str, audiences: &[Audience]) -> BTreeSet<String> {
    leaks_of_kind(file, audiences, LeakKind::Exact)
}

fn leaks_of_kind(file: &str, audiences: &[Audience], kind: LeakKind) -> BTreeSet<String> {
    let dataset = load_path(&shared_file(file), None, LoadOptions::default()).unwrap();
    audit(&dataset.cases)
        .into_iter()
        .filter(|leak| audiences.contains(&leak.audience) && leak.kind == kind)
        .map(|leak| leak.case_id)
        .collect()
}

#[test]
fn paraphrased_leaks_are_flagged_as_possible() {
    let possible =
        leaks_of_kind("agentclinic_medqa.jsonl", &[Audience::Patient, Audience::Measurement], LeakKind::Possible);
    // 12: "posterior dislocation of the right hip" (posterior hip dislocation); 33: "narrowing of
    // the aorta … consistent with coarctation" (coarctation of the aorta); 31: "CLL" (chronic
    // lymphocytic leukemia); 62: "molluscum" in the biopsy; 30: "respiratory distress" in the
    // history (respiratory distress syndrome).
    assert_eq!(possible, ["12", "30", "31", "33", "62"].iter().map(|id| (*id).to_owned()).collect(), "{possible:?}");
    let exact = leaking_cases("agentclinic_medqa.jsonl", &[Audience::Patient, Audience::Measurement]);
    assert!(exact.is_disjoint(&possible), "a case is counted once, by its surest leak");
    for file in ["agentclinic_nejm.jsonl", "agentclinic_nejm_extended.jsonl"] {
        assert!(
            leaks_of_kind(file, &[Audience::Patient, Audience::Measurement], LeakKind::Possible).is_empty(),
            "{file}"
        );
    }
}

#[test]
fn medqa_leaks_are_found_and_pinned() {
    let patient_or_measurement = leaking_cases("agentclinic_medqa.jsonl", &[Audience::Patient, Audience::Measurement]);
    assert_eq!(patient_or_measurement.len(), MEDQA_LEAKING, "{patient_or_measurement:?}");
    let patient = leaking_cases("agentclinic_medqa.jsonl", &[Audience::Patient]);
    assert_eq!(patient.len(), MEDQA_PATIENT, "{patient:?}");
    let measurement = leaking_cases("agentclinic_medqa.jsonl", &[Audience::Measurement]);
    assert_eq!(measurement.len(), MEDQA_MEASUREMENT, "{measurement:?}");
}

#[test]
fn nejm_leaks_are_pinned() {
    let nejm = leaking_cases("agentclinic_nejm_extended.jsonl", &[Audience::Patient, Audience::Measurement]);
    assert_eq!(nejm.len(), NEJM_EXTENDED_LEAKING, "{nejm:?}");
}

#[test]
fn a_known_leak_names_its_field() {
    // MedQA case 0 (myasthenia gravis) does not leak; find one that does and check the field path.
    let dataset = load_path(&shared_file("agentclinic_medqa.jsonl"), None, LoadOptions::default()).unwrap();
    let leaks = audit(&dataset.cases);
    let leak = leaks.iter().find(|leak| leak.audience == Audience::Measurement).expect("MedQA leaks to measurement");
    assert!(leak.field.starts_with("exam.") || leak.field.starts_with("tests."), "{}", leak.field);
    let case = dataset.case(&leak.case_id).unwrap();
    let path: Vec<&str> = leak.field.splitn(2, '.').collect();
    let tree = if path[0] == "exam" { &case.exam } else { &case.tests };
    assert!(tree.leaves().iter().any(|found| found.dotted() == path[1]), "the field path points at a real leaf");
}

// Measured with this matcher: 17 MedQA cases name their diagnosis in an exam or test result
// (a plain case-insensitive substring search finds fewer: it misses plurals such as
// "hemorrhoid"/"Hemorrhoids", abbreviations such as "BPPV" and "PML", and typographic variants
// such as "Hirschsprung’s disease" against "Hirschsprung disease").
const MEDQA_LEAKING: usize = 17;
const MEDQA_PATIENT: usize = 0;
const MEDQA_MEASUREMENT: usize = 17;
const NEJM_EXTENDED_LEAKING: usize = 0;
