//! Grounded measurement: answering a test request from the case itself, deterministically.
//!
//! A requested test ("CBC", "chest X-ray", "CT of the head") is matched to the case's exam and
//! test-result tree by normalised names, common clinical synonyms and abbreviations, and fuzzy
//! token matching; the stored values are returned verbatim. Anything the case does not hold
//! gets a stated normal reading, as AgentClinic's measurement prompt instructs. No model is
//! involved, so the measurement agent can neither invent results nor leak the answer.

use serde::Serialize;

use crate::case::Case;
use crate::finding::{Finding, Findings, display_name};
use crate::transcript::TestResult;

/// Phrases that name the same test, first entry canonical.
const SYNONYMS: &[&[&str]] = &[
    &[
        "complete blood count",
        "cbc",
        "full blood count",
        "fbc",
        "blood count",
        "hemogram",
        "haemogram",
        "cbc with differential",
    ],
    &[
        "basic metabolic panel",
        "bmp",
        "chem 7",
        "chem7",
        "electrolytes",
        "serum electrolytes",
        "u and e",
        "renal panel",
        "basic metabolic profile",
    ],
    &[
        "comprehensive metabolic panel",
        "cmp",
        "chemistry panel",
        "serum chemistry",
        "chem 14",
        "metabolic panel",
        "chemistries",
        "serum chemistries",
        "biochemistry",
        "serum biochemistry",
    ],
    &[
        "liver function tests",
        "lft",
        "lfts",
        "liver panel",
        "hepatic panel",
        "liver enzymes",
        "hepatic function panel",
        "liver function",
    ],
    &["electrocardiogram", "ecg", "ekg", "12 lead ecg", "12 lead electrocardiogram", "electrocardiography"],
    &["chest x ray", "cxr", "chest xray", "chest radiograph", "chest film", "chest radiography"],
    &["arterial blood gas", "abg", "blood gas", "blood gases", "arterial blood gases"],
    &["urinalysis", "ua", "urine analysis", "urine test", "urine dipstick", "urine studies", "urine"],
    &["vital signs", "vitals", "vital sign", "observations"],
    &["thyroid function tests", "tft", "tfts", "thyroid panel", "thyroid function", "thyroid studies"],
    &["lumbar puncture", "lp", "spinal tap", "csf analysis", "cerebrospinal fluid analysis", "csf"],
    &["echocardiogram", "echo", "echocardiography", "cardiac ultrasound", "tte", "transthoracic echocardiogram"],
    &["electromyography", "emg"],
    &["nerve conduction studies", "ncs", "nerve conduction study", "nerve conduction"],
    &["electroencephalogram", "eeg", "electroencephalography"],
    &["pulmonary function tests", "pft", "pfts", "lung function tests", "spirometry"],
    &["c reactive protein", "crp"],
    &["erythrocyte sedimentation rate", "esr", "sed rate"],
    &[
        "coagulation studies",
        "coags",
        "coagulation panel",
        "pt inr",
        "clotting screen",
        "coagulation profile",
        "coagulation",
    ],
    &["hemoglobin a1c", "hba1c", "hb a1c", "a1c", "glycated hemoglobin", "glycosylated hemoglobin"],
    &["lipid panel", "lipids", "lipid profile", "cholesterol panel", "fasting lipids"],
    &["blood cultures", "blood culture"],
    &["urine culture", "urine cultures"],
    &["cardiac enzymes", "cardiac biomarkers", "cardiac markers", "troponins", "troponin"],
    &["peripheral blood smear", "blood smear", "peripheral smear", "blood film"],
    &["computed tomography", "ct", "ct scan", "cat scan"],
    &["magnetic resonance imaging", "mri", "mr", "mri scan"],
    &["ultrasound", "us", "ultrasonography", "sonography", "sonogram", "usg", "doppler ultrasound"],
    &["x ray", "xray", "radiograph", "radiography", "plain film", "x rays", "radiographs", "plain radiograph"],
    &["physical examination", "physical exam", "exam", "examination"],
    &["head", "brain", "cranial"],
    &["abdomen", "abdominal", "abdomen pelvis", "abdominal pelvic"],
    &["urine drug screen", "toxicology screen", "tox screen", "drug screen", "uds", "toxicology"],
];

/// Words that say nothing about which test is meant.
const GENERIC: &[&str] = &[
    "test",
    "tests",
    "testing",
    "result",
    "results",
    "finding",
    "findings",
    "level",
    "levels",
    "study",
    "studies",
    "of",
    "the",
    "a",
    "an",
    "and",
    "for",
    "please",
    "order",
    "check",
    "request",
    "value",
    "values",
    "report",
    "reports",
    "measurement",
    "measurements",
    "assessment",
    "evaluation",
    "analysis",
    "on",
    "in",
    "with",
    "to",
    "scan",
    "imaging",
    "serum",
    "blood",
    "plasma",
    "patient",
    "s",
    "workup",
    "work",
    "up",
    "examination",
    "exam",
    "screening",
];

/// Lower-case word tokens, synonyms mapped to their canonical form, generic words dropped.
pub fn normalise(name: &str) -> Vec<String> {
    let spaced = name.to_lowercase();
    let spaced: String = spaced.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    // Replace the longest synonym phrases first.
    let mut tokens: Vec<String> = Vec::new();
    let mut index = 0;
    'outer: while index < words.len() {
        for length in (1..=4.min(words.len() - index)).rev() {
            let phrase = words[index..index + length].join(" ");
            if let Some(group) = SYNONYMS.iter().find(|group| group.contains(&phrase.as_str())) {
                tokens.extend(group[0].split(' ').map(str::to_owned));
                index += length;
                continue 'outer;
            }
        }
        tokens.push(words[index].to_owned());
        index += 1;
    }
    let specific: Vec<String> = tokens.iter().filter(|token| !GENERIC.contains(&token.as_str())).cloned().collect();
    let mut result = if specific.is_empty() { tokens } else { specific };
    result.sort();
    result.dedup();
    result
}

/// Edit distance of two short words (for typos such as "hemoglobn").
fn close(left: &str, right: &str) -> bool {
    if left == right {
        return true;
    }
    // Only longer words, same first letter: "hemoglobn" is "hemoglobin", "height" is not "weight".
    if left.len() < 6
        || right.len() < 6
        || left.len().abs_diff(right.len()) > 1
        || left.chars().next() != right.chars().next()
    {
        return false;
    }
    let (a, b): (Vec<char>, Vec<char>) = (left.chars().collect(), right.chars().collect());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current.push((previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()] <= 1
}

/// How well a request's tokens name a node's tokens, 0–1.
fn score(request: &[String], node: &[String]) -> f64 {
    if request.is_empty() || node.is_empty() {
        return 0.0;
    }
    let shared = request.iter().filter(|token| node.iter().any(|other| close(token, other))).count();
    if shared == 0 {
        return 0.0;
    }
    let covered_request = shared as f64 / request.len() as f64;
    let covered_node =
        node.iter().filter(|token| request.iter().any(|other| close(token, other))).count() as f64 / node.len() as f64;
    // Naming every word of the node matters most ("CBC" → Complete_Blood_Count); extra words in
    // the request ("CBC with differential") cost a little.
    0.7 * covered_node + 0.3 * covered_request
}

/// One result node of a case: a group or a leaf.
#[derive(Debug, Clone, Serialize)]
pub struct ResultNode {
    /// `tests.Blood_Tests.Complete_Blood_Count`.
    pub path: String,
    /// Normalised name tokens.
    pub tokens: Vec<String>,
    /// Normalised tokens of the node's own name and its parents' names.
    pub qualified: Vec<String>,
    /// Depth below `exam`/`tests` (1 = top-level entry).
    pub depth: usize,
    /// The stored content, rendered.
    pub text: String,
    /// The node's own display name.
    pub name: String,
}

/// The grounded measurement agent for one case.
#[derive(Debug, Clone)]
pub struct GroundedMeasurement {
    nodes: Vec<ResultNode>,
    free_text: Vec<String>,
    whole_exam: String,
}

impl GroundedMeasurement {
    /// Indexes a case's examination and test results.
    pub fn new(case: &Case) -> GroundedMeasurement {
        let mut nodes = Vec::new();
        let mut free_text = Vec::new();
        for (root, findings) in [("exam", &case.exam), ("tests", &case.tests)] {
            index(findings, root, 1, &[], &mut nodes, &mut free_text);
        }
        GroundedMeasurement { nodes, free_text, whole_exam: case.exam.render() }
    }

    /// Every indexed node.
    pub fn nodes(&self) -> &[ResultNode] {
        &self.nodes
    }

    /// The result for one requested test.
    pub fn measure(&self, requested: &str) -> TestResult {
        let request = normalise(requested);
        // "Physical examination" asks for the whole examination.
        if request == normalise("physical examination") && !self.whole_exam.is_empty() {
            return TestResult {
                requested: requested.to_owned(),
                matched: Some("exam".to_owned()),
                result: format!("Physical examination:\n{}", self.whole_exam),
                assumed_normal: false,
            };
        }
        let mut best: Option<(&ResultNode, f64)> = None;
        for node in &self.nodes {
            // A request may qualify a name by its panel ("abdominal inspection", "urine sodium").
            let value = score(&request, &node.tokens).max(score(&request, &node.qualified) - 0.01);
            let better = match best {
                None => value > 0.0,
                // Higher score wins; on a tie the shallower node (the whole panel) wins.
                Some((current, current_value)) => {
                    value > current_value + 1e-9 || ((value - current_value).abs() < 1e-9 && node.depth < current.depth)
                }
            };
            if better {
                best = Some((node, value));
            }
        }
        if let Some((node, value)) = best
            && value >= 0.6
        {
            return TestResult {
                requested: requested.to_owned(),
                matched: Some(node.path.clone()),
                result: format!("{}: {}", node.name, node.text),
                assumed_normal: false,
            };
        }
        // Free-text findings (NEJM cases): the sentences or numbered items that mention it.
        let words: Vec<String> = request.iter().filter(|token| token.len() > 2).cloned().collect();
        let mut excerpts = Vec::new();
        for text in &self.free_text {
            for item in split_items(text) {
                let item_tokens = normalise(item);
                if !words.is_empty() && words.iter().all(|word| item_tokens.iter().any(|token| close(word, token))) {
                    excerpts.push(item.trim().to_owned());
                }
            }
        }
        if !excerpts.is_empty() {
            return TestResult {
                requested: requested.to_owned(),
                matched: Some("exam.Findings".to_owned()),
                result: format!("{requested}: {}", excerpts.join(" ")),
                assumed_normal: false,
            };
        }
        TestResult {
            requested: requested.to_owned(),
            matched: None,
            result: format!("{requested}: normal readings (no abnormality recorded)."),
            assumed_normal: true,
        }
    }

    /// Results for several tests.
    pub fn measure_all(&self, tests: &[String]) -> Vec<TestResult> {
        tests.iter().map(|test| self.measure(test)).collect()
    }
}

/// The text the doctor receives for a set of results.
pub fn render_results(results: &[TestResult]) -> String {
    let mut out = String::from("RESULTS:");
    for result in results {
        out.push_str("\n- ");
        out.push_str(&result.result.replace('\n', "\n  "));
    }
    out
}

fn split_items(text: &str) -> Vec<&str> {
    text.split(['.', ';', '\n']).filter(|item| item.trim().len() > 3).collect()
}

fn index(
    findings: &Findings,
    path: &str,
    depth: usize,
    parents: &[String],
    nodes: &mut Vec<ResultNode>,
    free_text: &mut Vec<String>,
) {
    for (name, child) in &findings.0 {
        let tokens = normalise(name);
        let mut qualified: Vec<String> = parents.iter().cloned().chain(tokens.iter().cloned()).collect();
        qualified.sort();
        qualified.dedup();
        let child_path = format!("{path}.{name}");
        let text = render_node(child);
        if let Finding::Text(body) = child
            && body.len() > 200
        {
            free_text.push(body.clone());
        }
        nodes.push(ResultNode {
            path: child_path.clone(),
            tokens,
            qualified: qualified.clone(),
            depth,
            text,
            name: display_name(name),
        });
        if let Finding::Group(group) = child {
            index(group, &child_path, depth + 1, &qualified, nodes, free_text);
        }
    }
}

fn render_node(node: &Finding) -> String {
    let mut out = String::new();
    node.render(1, &mut out);
    // A group renders as indented lines; give them one level of indent, no leading blank.
    out.trim_start().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, load_bytes};

    fn case() -> Case {
        let text = r#"{"OSCE_Examination": {"Objective_for_Doctor": "x", "Patient_Actor": {}, "Physical_Examination_Findings": {"Vital_Signs": {"Heart_Rate": "72 bpm"}}, "Test_Results": {"Blood_Tests": {"Complete_Blood_Count": {"WBC": "11,000/mm3", "Hemoglobin": "9.1 g/dL"}}, "Imaging": {"Chest_CT": {"Findings": "No thymoma."}, "CT_Head": "Normal"}, "Electrocardiogram": "Sinus rhythm"}, "Correct_Diagnosis": "y"}}"#;
        load_bytes(text.as_bytes(), "t", "t", LoadOptions::default()).unwrap().cases.remove(0)
    }

    #[test]
    fn synonyms_abbreviations_and_regions() {
        let measurement = GroundedMeasurement::new(&case());
        let path = |request: &str| measurement.measure(request).matched;
        assert_eq!(path("CBC").as_deref(), Some("tests.Blood_Tests.Complete_Blood_Count"));
        assert_eq!(path("complete blood count").as_deref(), Some("tests.Blood_Tests.Complete_Blood_Count"));
        assert_eq!(path("Hemoglobin level").as_deref(), Some("tests.Blood_Tests.Complete_Blood_Count.Hemoglobin"));
        assert_eq!(path("hemoglobn").as_deref(), Some("tests.Blood_Tests.Complete_Blood_Count.Hemoglobin"), "typo");
        assert_eq!(path("EKG").as_deref(), Some("tests.Electrocardiogram"));
        assert_eq!(path("CT of the head").as_deref(), Some("tests.Imaging.CT_Head"));
        assert_eq!(path("chest CT scan").as_deref(), Some("tests.Imaging.Chest_CT"));
        assert_eq!(path("vitals").as_deref(), Some("exam.Vital_Signs"));
        let result = measurement.measure("CBC");
        assert!(
            result.result.contains("WBC: 11,000/mm3") && result.result.contains("Hemoglobin: 9.1 g/dL"),
            "{}",
            result.result
        );
    }

    #[test]
    fn missing_tests_read_normal() {
        let result = GroundedMeasurement::new(&case()).measure("Lipase");
        assert!(result.assumed_normal);
        assert_eq!(result.result, "Lipase: normal readings (no abnormality recorded).");
    }

    #[test]
    fn camel_case_and_punctuation_normalise() {
        assert_eq!(normalise("HbA1c"), normalise("glycated hemoglobin"));
        assert_eq!(normalise("X-ray_Left_Hip"), normalise("left hip radiograph"));
        assert_eq!(normalise("Head_CT"), normalise("CT head"));
    }
}
