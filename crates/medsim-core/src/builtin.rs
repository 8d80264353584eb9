//! The built-in demo cases, written for medsim and compiled into the binary, so the main job runs
//! with no download. Their images are embedded too.

use crate::load::{Dataset, LoadOptions, load_bytes};

/// Name of the built-in dataset.
pub const BUILTIN: &str = "builtin";

const CASES_YAML: &str = include_str!("../builtin/cases.yaml");

include!(concat!(env!("OUT_DIR"), "/builtin_images.rs"));

/// The built-in cases.
pub fn builtin() -> Dataset {
    load_bytes(CASES_YAML.as_bytes(), "builtin/cases.yaml", BUILTIN, LoadOptions::default())
        .expect("the built-in cases are valid (checked by tests)")
}

/// The source text of the built-in cases (what `cases convert` and docs show).
pub fn builtin_source() -> &'static str {
    CASES_YAML
}

/// The bytes of a built-in image, by its path as written in the cases (`images/ecg-01.png`).
pub fn builtin_image(path: &str) -> Option<&'static [u8]> {
    BUILTIN_IMAGES.iter().find(|(name, _)| *name == path).map(|(_, bytes)| *bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn builtin_cases_meet_the_demo_bar() {
        let dataset = builtin();
        assert!(dataset.cases.len() >= 12, "{} cases", dataset.cases.len());
        let specialties: BTreeSet<&str> =
            dataset.cases.iter().flat_map(|case| case.specialty.iter().map(String::as_str)).collect();
        assert!(specialties.len() >= 8, "{specialties:?}");
        let with_local_image = dataset
            .cases
            .iter()
            .filter(|case| case.images.iter().any(|image| image.path.as_deref().and_then(builtin_image).is_some()))
            .count();
        assert!(with_local_image >= 2);
        assert!(dataset.cases.iter().any(|case| !case.options.is_empty() && case.question.is_some()));
        for case in &dataset.cases {
            assert!(case.tests.leaves().len() >= 6, "case {} has a thin test panel", case.id);
            assert!(!case.exam.is_empty(), "case {} has no exam", case.id);
            for image in &case.images {
                let bytes = image.path.as_deref().and_then(builtin_image).expect("built-in images are embedded");
                assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?} is a PNG", image.path);
            }
        }
    }

    #[test]
    fn builtin_cases_do_not_leak_their_diagnosis() {
        let leaks = crate::audit::audit(&builtin().cases);
        assert!(leaks.is_empty(), "{leaks:#?}");
    }
}
