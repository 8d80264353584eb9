//! What the doctor does in a turn, and how it is read from text.
//!
//! The agentclinic protocol has the doctor write plain text with markers: `REQUEST TEST: …`,
//! `REQUEST IMAGES`, `DIAGNOSIS READY: …`. [`parse_text`] reads them tolerantly (any case,
//! markdown emphasis, quotes, several tests in one request, a question beside a test request);
//! [`parse_strict`] routes exactly as AgentClinic's reference code does (case-sensitive substring
//! tests, diagnosis first, then tests, else the whole text goes to the patient).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A diagnosis with an optional ranked differential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnosis {
    /// The doctor's primary diagnosis.
    pub primary: String,
    /// Other diagnoses considered, with probabilities when given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differential: Vec<Differential>,
}

/// One entry of a differential diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Differential {
    /// The diagnosis.
    pub diagnosis: String,
    /// Probability, 0–1, when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// The doctor's turn, as routed by the engine.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DoctorAction {
    /// Words addressed to the patient (a question), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// Tests ordered from the measurement agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// The doctor asked for the case images.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub images: bool,
    /// The doctor committed to a diagnosis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
}

const DIAGNOSIS_MARKER: &str = "diagnosis ready";
const TEST_MARKER: &str = "request test";
const IMAGES_MARKER: &str = "request images";

/// Removes markdown emphasis and backticks so `**DIAGNOSIS READY:**` reads like the plain marker.
fn unmark(text: &str) -> String {
    text.replace("**", "").replace("__", "").replace('`', "")
}

fn trim_value(value: &str) -> String {
    let mut current = value.trim();
    loop {
        let next =
            current.trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '[' | ']' | '“' | '”' | '.' | ';')).trim();
        if next == current {
            return next.to_owned();
        }
        current = next;
    }
}

/// An action's text as repeats are compared (a test ordered again, a question asked again):
/// lower case, single spaces.
pub fn normal(text: &str) -> String {
    text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a test request ("CBC, BMP and chest X-ray") into test names. A part joined by "and"
/// is a test of its own only when it names one; "MRI of the brain and orbits" stays whole, since
/// "orbits" is only a region, and so does "left and right heart catheterization".
pub fn split_tests(request: &str) -> Vec<String> {
    let lexicon = crate::lexicon::Lexicon::get();
    let names_a_test = |text: &str| {
        let facets = lexicon.facets(text);
        !facets.concepts.is_empty()
            || !facets.modalities.is_empty()
            || !facets.systems.is_empty()
            || (facets.regions.is_empty() && !facets.words.is_empty())
    };
    let mut tests = Vec::new();
    for piece in request.split([',', ';', '\n']) {
        let mut current = String::new();
        for part in piece.split(" and ") {
            if current.is_empty() {
                current = part.to_owned();
            } else if names_a_test(&current) && names_a_test(part) {
                tests.push(std::mem::take(&mut current));
                current = part.to_owned();
            } else {
                current = format!("{current} and {part}");
            }
        }
        tests.push(current);
    }
    tests.into_iter().map(|test| trim_value(&test)).filter(|name| !name.is_empty() && name.len() <= 120).collect()
}

/// Reads a doctor's text tolerantly.
pub fn parse_text(text: &str) -> DoctorAction {
    let clean = unmark(text);
    // ASCII lowering keeps every byte where it was, so positions found in it index `clean`
    // (full Unicode lowering can change lengths: 'Ⱦ' is 2 bytes, 'ⱦ' 3).
    let lower = clean.to_ascii_lowercase();
    let mut action = DoctorAction::default();
    for (position, _) in lower.match_indices(DIAGNOSIS_MARKER) {
        let rest = &clean[position + DIAGNOSIS_MARKER.len()..];
        let rest = rest.trim_start_matches([':', ' ', '-', '\u{2013}']);
        let primary = trim_value(rest.lines().next().unwrap_or_default());
        // A model repeating the instructions ("DIAGNOSIS READY: [diagnosis here]") has not
        // diagnosed anything.
        let placeholder = primary.to_lowercase().starts_with("diagnosis here") || rest.trim_start().starts_with('[');
        if !primary.is_empty() && !placeholder {
            action.diagnosis = Some(Diagnosis { primary, differential: Vec::new() });
            return action;
        }
    }
    let mut remainder = String::new();
    for line in clean.lines() {
        let line_lower = line.to_ascii_lowercase();
        let mut consumed = false;
        let mut search_from = 0;
        while let Some(found) = line_lower[search_from..].find(TEST_MARKER) {
            let start = search_from + found;
            let mut after = start + TEST_MARKER.len();
            if line_lower[after..].starts_with('s') {
                after += 1;
            }
            let tail = &line[after..];
            let tail = tail.trim_start_matches([':', ' ', '-']);
            // The request runs to the next marker or the end of the line.
            let next = tail.to_ascii_lowercase().find(TEST_MARKER).unwrap_or(tail.len());
            let request = &tail[..next];
            // A sentence after the test list ("… CBC. How long have you …") stays a question.
            let (request, trailing) = match request.find(". ") {
                Some(position) => (&request[..position], &request[position + 2..]),
                None => (request, ""),
            };
            action.tests.extend(split_tests(request));
            if !line[..start].trim().is_empty() && search_from == 0 {
                remainder.push_str(line[..start].trim());
                remainder.push(' ');
            }
            if !trailing.trim().is_empty() {
                remainder.push_str(trailing.trim());
                remainder.push(' ');
            }
            consumed = true;
            search_from = line.len() - tail.len() + next;
            if search_from >= line.len() {
                break;
            }
        }
        if line_lower.contains(IMAGES_MARKER) {
            action.images = true;
            let without = line_lower.replace(IMAGES_MARKER, "");
            if without.trim_matches(|c: char| !c.is_alphanumeric()).is_empty() {
                consumed = true;
            }
        }
        if !consumed {
            remainder.push_str(line.trim());
            remainder.push(' ');
        }
    }
    let question = remainder.split_whitespace().collect::<Vec<_>>().join(" ");
    let has_words = question.chars().any(char::is_alphanumeric);
    if has_words && !(action.images && question.to_lowercase().contains(IMAGES_MARKER) && question.len() < 40) {
        action.question = Some(question);
    }
    action
}

/// Routes a doctor's text exactly as AgentClinic does: `"DIAGNOSIS READY" in text` → the whole
/// text is the diagnosis; else `"REQUEST TEST" in text` → the whole text goes to measurement;
/// else the whole text goes to the patient. `REQUEST IMAGES` is noted for the next turn.
pub fn parse_strict(text: &str) -> DoctorAction {
    let mut action = DoctorAction { images: text.contains("REQUEST IMAGES"), ..DoctorAction::default() };
    if text.contains("DIAGNOSIS READY") {
        action.diagnosis = Some(Diagnosis { primary: text.to_owned(), differential: Vec::new() });
    } else if text.contains("REQUEST TEST") {
        action.tests = vec![text.to_owned()];
    } else {
        action.question = Some(text.to_owned());
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_whose_lower_case_is_longer_do_not_shift_positions() {
        // Found by fuzzing: 'Ⱦ' lowers to a longer 'ⱦ', so positions in a fully lowered copy
        // fell inside a character of the original.
        let text = "{\u{23e}\u{23e}=\u{23e}} DIAGNOSIS READY: \u{23e}\u{23e} gout\nREQUEST TEST: \u{23e}CBC";
        assert_eq!(parse_text(text).diagnosis.unwrap().primary, "\u{23e}\u{23e} gout");
        let tests = parse_text("\u{23e}\u{23e} REQUEST TEST: CBC, \u{23e} REQUEST TEST: ESR").tests;
        assert!(tests.contains(&"CBC".to_owned()) && tests.contains(&"ESR".to_owned()), "{tests:?}");
    }

    #[test]
    fn markers_in_any_case_and_markdown() {
        let action = parse_text("**Diagnosis Ready:** \"Myasthenia gravis\".");
        assert_eq!(action.diagnosis.unwrap().primary, "Myasthenia gravis");
        let action = parse_text("diagnosis ready - Iron deficiency anemia\nThank you.");
        assert_eq!(action.diagnosis.unwrap().primary, "Iron deficiency anemia");
    }

    #[test]
    fn several_tests_and_a_question_beside_them() {
        let action = parse_text("Thanks. REQUEST TEST: CBC, BMP and Chest_X-Ray. How long have you had the cough?");
        assert_eq!(action.tests, ["CBC", "BMP", "Chest_X-Ray"]);
        assert_eq!(action.question.as_deref(), Some("Thanks. How long have you had the cough?"));
        let action = parse_text("REQUEST TEST: ECG\nREQUEST TEST: Troponin");
        assert_eq!(action.tests, ["ECG", "Troponin"]);
        assert_eq!(action.question, None);
        let action = parse_text("REQUEST TESTS: [Urinalysis]");
        assert_eq!(action.tests, ["Urinalysis"]);
    }

    #[test]
    fn images_and_plain_questions() {
        let action = parse_text("REQUEST IMAGES");
        assert!(action.images);
        assert_eq!(action.question, None);
        let action = parse_text("When did the rash start?");
        assert_eq!(action.question.as_deref(), Some("When did the rash start?"));
        assert!(action.tests.is_empty() && action.diagnosis.is_none());
    }

    #[test]
    fn echoed_instructions_are_not_a_diagnosis() {
        let action = parse_text("please type \"DIAGNOSIS READY: [diagnosis here]\" when ready. What brings you in?");
        assert!(action.diagnosis.is_none());
        assert!(action.question.is_some());
    }

    #[test]
    fn strict_routing_matches_agentclinic() {
        let text = "Let me check. REQUEST TEST: CBC";
        assert_eq!(parse_strict(text).tests, [text]);
        assert!(parse_strict("request test: cbc").question.is_some(), "strict is case-sensitive");
        let both = parse_strict("REQUEST TEST: CBC. DIAGNOSIS READY: Anemia");
        assert!(both.diagnosis.is_some() && both.tests.is_empty(), "the diagnosis wins");
    }
}
