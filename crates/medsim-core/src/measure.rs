//! Grounded measurement: answering a test request from the case itself, deterministically.
//!
//! A requested test ("Hb", "MRI brain", "lung auscultation", "CT of the abdomen with contrast")
//! and every stored result name (`Urinalysis.Glucose`, `Imaging.MRI_Spine`) are read through the
//! clinical lexicon ([`crate::lexicon`]) into facets: concepts (analytes, panels, vital signs,
//! other tests), fluid, imaging modality, body region, examination system. A request only ever
//! gets a result that is compatible on every facet — an MRI of the brain never gets the spine
//! MRI, a blood glucose never the urine glucose, lung auscultation never the bowel sounds — and
//! among those the one that names the same concept (a component inside a panel included), with
//! fuzzy word matching for names the lexicon does not know. The stored values are returned
//! verbatim, saying what was answered; anything the case does not hold gets a stated normal
//! reading, as AgentClinic's measurement prompt instructs. No model is involved, so the
//! measurement agent can neither invent results nor leak the answer.

use serde::Serialize;

use crate::case::Case;
use crate::finding::{Finding, Findings, display_name};
use crate::lexicon::{Facets, Lexicon};
use crate::transcript::TestResult;

/// The lowest score that counts as an answer (calibrated on the dev set, see BENCHMARKS.md).
pub const THRESHOLD: f64 = 0.6;

/// Lower-case word tokens of a name, lexicon phrases kept whole, generic words dropped (for
/// tools and tests; matching uses [`Lexicon::facets`]).
pub fn normalise(name: &str) -> Vec<String> {
    let facets = Lexicon::get().facets(name);
    let mut tokens: Vec<String> = facets
        .concepts
        .iter()
        .chain(&facets.modalities)
        .chain(&facets.regions)
        .chain(&facets.systems)
        .chain(&facets.fluids)
        .cloned()
        .chain(facets.words)
        .collect();
    tokens.sort();
    tokens.dedup();
    tokens
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

/// How well a request's words name a node's words, 0–1.
fn word_score(request: &[String], node: &[String]) -> f64 {
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
    // Naming every word of the node matters most; extra words in the request cost a little.
    0.7 * covered_node + 0.3 * covered_request
}

/// Plain words of a text for the word score: lexicon-normalised singular tokens, generic words
/// dropped.
fn plain_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = crate::lexicon::words(text)
        .into_iter()
        .filter(|word| !crate::lexicon::GENERIC.contains(&word.as_str()))
        .map(|word| crate::matching::tokens(&word).into_iter().next().unwrap_or(word))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A request, read once.
#[derive(Debug, Clone)]
struct Request {
    facets: Facets,
    /// The fluids meant: as written, else the concepts' default fluids.
    fluids: std::collections::BTreeSet<String>,
    words: Vec<String>,
}

impl Request {
    fn new(text: &str) -> Request {
        let lexicon = Lexicon::get();
        let facets = lexicon.facets(text);
        let fluids = if facets.fluids.is_empty() {
            facets.concepts.iter().filter_map(|concept| lexicon.default_fluid(concept).map(str::to_owned)).collect()
        } else {
            facets.fluids.clone()
        };
        Request { facets, fluids, words: plain_words(text) }
    }

    fn imaging(&self) -> bool {
        !self.facets.modalities.is_empty()
    }
}

/// One result node of a case: a group or a leaf.
#[derive(Debug, Clone, Serialize)]
pub struct ResultNode {
    /// `tests.Blood_Tests.Complete_Blood_Count`.
    pub path: String,
    /// The node's own display name.
    pub name: String,
    /// The display name of the group it is in, if any.
    pub parent: Option<String>,
    /// Depth below `exam`/`tests` (1 = top-level entry).
    pub depth: usize,
    /// True for a group of results (a panel, an examination with parts).
    pub group: bool,
    /// The stored content, rendered.
    pub text: String,
    /// What the node's own name says.
    #[serde(skip)]
    own: Facets,
    /// What its name and its groups' names say together.
    #[serde(skip)]
    context: Facets,
    /// Regions named at the start of its content (for imaging named only by modality).
    #[serde(skip)]
    text_regions: std::collections::BTreeSet<String>,
    #[serde(skip)]
    own_words: Vec<String>,
    #[serde(skip)]
    qualified_words: Vec<String>,
    /// Concepts its stored text mentions (for a panel stored as one text).
    #[serde(skip)]
    text_concepts: std::collections::BTreeSet<String>,
    /// The fluids its results are in: as its names say, else its concepts' usual fluid.
    #[serde(skip)]
    fluids: std::collections::BTreeSet<String>,
}

impl ResultNode {
    fn imaging(&self) -> bool {
        !self.context.modalities.is_empty()
    }

    fn regions(&self) -> &std::collections::BTreeSet<String> {
        if self.context.regions.is_empty() { &self.text_regions } else { &self.context.regions }
    }
}

/// Modalities that answer for each other (a cardiac ultrasound is an echocardiogram).
fn modalities_match(request: &Facets, node: &Facets) -> bool {
    let same = |left: &str, right: &str| {
        left == right
            || left == "any"
            || right == "any"
            || matches!((left, right), ("echo", "ultrasound") | ("ultrasound", "echo"))
    };
    request.modalities.iter().any(|left| node.modalities.iter().any(|right| same(left, right)))
}

/// Whether a node may answer a request at all: modality, region, fluid and system agree.
fn compatible(request: &Request, node: &ResultNode) -> bool {
    let lexicon = Lexicon::get();
    let facets = &request.facets;
    let recognised = !facets.concepts.is_empty() || !facets.systems.is_empty() || !facets.parts.is_empty();
    if request.imaging() != node.imaging() && (request.imaging() || recognised) {
        return false;
    }
    if request.imaging() && !modalities_match(facets, &node.context) {
        return false;
    }
    // A node that says only "Imaging" answers an imaging request only when it names a region
    // ("Head_Imaging"); a bare "Imaging" group is a container of other studies.
    if request.imaging()
        && node.context.modalities.iter().all(|modality| modality == "any")
        && node.regions().is_empty()
    {
        return false;
    }
    let node_regions = node.regions();
    if !facets.regions.is_empty()
        && !node_regions.is_empty()
        && !facets.regions.iter().any(|left| node_regions.iter().any(|right| lexicon.regions_overlap(left, right)))
    {
        return false;
    }
    if !request.fluids.is_empty() && !node.fluids.is_empty() && request.fluids.is_disjoint(&node.fluids) {
        return false;
    }
    if !facets.systems.is_empty()
        && !node.context.systems.is_empty()
        && facets.systems.is_disjoint(&node.context.systems)
    {
        return false;
    }
    true
}

/// How well a compatible node answers a request, 0–1.
fn score(request: &Request, node: &ResultNode) -> f64 {
    let lexicon = Lexicon::get();
    let facets = &request.facets;
    let words = word_score(&request.words, &node.own_words);
    let concept = if !facets.concepts.is_empty() {
        if !facets.concepts.is_disjoint(&node.own.concepts) {
            1.0
        } else if facets.concepts.iter().any(|concept| {
            lexicon.panels_of(concept).iter().any(|panel| {
                node.own.concepts.contains(panel)
                    && (lexicon.is_generic(panel)
                        || !node.group && (node.text_concepts.contains(concept) || node.text_concepts.is_empty()))
            })
        }) {
            // A panel stored as one text that reports the requested component (or says only that
            // it is normal), or a generic result ("Culture" under the urinalysis for a urine
            // culture).
            0.8
        } else if node.own.concepts.iter().any(|concept| {
            lexicon.panels_of(concept).iter().any(|panel| lexicon.is_generic(panel) && facets.concepts.contains(panel))
        }) {
            // Any biopsy answers "biopsy"; any serology "serologies".
            0.9
        } else {
            0.0
        }
    } else if request.imaging() {
        let regions = node.regions();
        match (facets.regions.is_empty(), regions.is_empty()) {
            (true, _) => 0.85,
            (false, false) => 1.0,
            (false, true) => 0.7,
        }
    } else if !facets.systems.is_empty() || !facets.parts.is_empty() {
        exam_score(facets, node)
    } else {
        // Nothing the lexicon knows: the words decide, the node's own name first, then its
        // name qualified by its groups ("urine sodium" for Urine.Sodium).
        return words.max(word_score(&request.words, &node.qualified_words) - 0.01);
    };
    if concept == 0.0 {
        return 0.0;
    }
    0.85 * concept + 0.15 * words
}

/// How well an examination node answers an examination request ("bowel sounds": the abdominal
/// examination's auscultation; "neuro exam": the whole neurological examination).
fn exam_score(request: &Facets, node: &ResultNode) -> f64 {
    let systems_agree = request.systems.is_empty() || !request.systems.is_disjoint(&node.context.systems);
    if !systems_agree || node.context.systems.is_empty() && node.context.parts.is_empty() {
        return 0.0;
    }
    if !request.parts.is_empty() {
        if !request.parts.is_disjoint(&node.own.parts) {
            return 1.0;
        }
        if !node.own.parts.is_empty() {
            // Another part of the examination (palpation when auscultation was asked).
            return 0.0;
        }
        if !request.parts.is_disjoint(&node.context.parts) {
            return 0.9;
        }
        if !node.group && !request.systems.is_empty() && !request.systems.is_disjoint(&node.own.systems) {
            // The system's examination, written as one text, reports the part.
            return 0.8;
        }
        return 0.0;
    }
    if !request.systems.is_disjoint(&node.own.systems) { 1.0 } else { 0.75 }
}

/// The examination systems a body region's findings belong to.
fn systems_of_region(region: &str) -> &'static [&'static str] {
    match region {
        "heart" => &["cardiovascular"],
        "chest" => &["respiratory"],
        "abdomen" | "liver" | "spleen" | "pancreas" => &["abdominal"],
        "kidney" => &["genitourinary", "abdominal"],
        "head" | "orbit" | "sinus" | "face" | "neck" | "thyroid" => &["heent"],
        "spine" | "cervical spine" | "thoracic spine" | "lumbar spine" | "joints" => &["musculoskeletal"],
        "arm" | "leg" | "hip" | "shoulder" => &["extremities", "musculoskeletal"],
        "pelvis" | "scrotum" | "breast" => &["genitourinary"],
        _ => &[],
    }
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
            index(findings, root, 1, None, &Facets::default(), &[], &mut nodes, &mut free_text);
        }
        GroundedMeasurement { nodes, free_text, whole_exam: case.exam.render() }
    }

    /// Every indexed node.
    pub fn nodes(&self) -> &[ResultNode] {
        &self.nodes
    }

    /// Every node with whether it is compatible with a request and its score (for tools and
    /// debugging).
    pub fn explain(&self, requested: &str) -> Vec<(String, bool, f64)> {
        let request = Request::new(requested);
        self.nodes.iter().map(|node| (node.path.clone(), compatible(&request, node), score(&request, node))).collect()
    }

    /// The node that best answers a request, with its score, if any is compatible.
    fn best(&self, request: &Request) -> Option<(&ResultNode, f64)> {
        let mut best: Option<(&ResultNode, f64)> = None;
        for node in &self.nodes {
            if !compatible(request, node) {
                continue;
            }
            let value = score(request, node);
            let better = match best {
                None => value > 0.0,
                // Higher score wins; on a tie the shallower node (the whole group) wins.
                Some((current, current_value)) => {
                    value > current_value + 1e-9 || ((value - current_value).abs() < 1e-9 && node.depth < current.depth)
                }
            };
            if better {
                best = Some((node, value));
            }
        }
        best
    }

    /// The result for one requested test.
    pub fn measure(&self, requested: &str) -> TestResult {
        let phrase = crate::lexicon::words(requested).join(" ");
        // "Physical examination" asks for the whole examination.
        if matches!(
            phrase.as_str(),
            "physical examination"
                | "physical exam"
                | "full physical examination"
                | "complete physical examination"
                | "complete physical exam"
                | "full physical exam"
                | "examination"
                | "exam"
                | "pe"
        ) && !self.whole_exam.is_empty()
        {
            return TestResult {
                requested: requested.to_owned(),
                matched: Some("exam".to_owned()),
                result: format!("Physical examination:\n{}", self.whole_exam),
                assumed_normal: false,
            };
        }
        let request = Request::new(requested);
        if let Some(combined) = self.several_concepts(requested, &request) {
            return combined;
        }
        if let Some((node, value)) = self.best(&request)
            && value >= THRESHOLD
        {
            // Serial results of one test side by side (troponin at 0 h and at 1 h): all of them.
            let parent = node.path.rsplit_once('.').map(|(parent, _)| parent).unwrap_or_default();
            let series: Vec<&ResultNode> = self
                .nodes
                .iter()
                .filter(|other| {
                    other.path.rsplit_once('.').map(|(above, _)| above) == Some(parent)
                        && other.own.concepts == node.own.concepts
                        && !node.own.concepts.is_empty()
                        && compatible(&request, other)
                        && (score(&request, other) - value).abs() < 0.05
                })
                .collect();
            if series.len() > 1 {
                return TestResult {
                    requested: requested.to_owned(),
                    matched: Some(series.iter().map(|node| node.path.as_str()).collect::<Vec<_>>().join(" + ")),
                    result: series.iter().map(|node| describe(node)).collect::<Vec<_>>().join("; "),
                    assumed_normal: false,
                };
            }
            return TestResult {
                requested: requested.to_owned(),
                matched: Some(node.path.clone()),
                result: describe(node),
                assumed_normal: false,
            };
        }
        if let Some(assembled) = self.assemble_panel(requested, &request) {
            return assembled;
        }
        if let Some(excerpts) = self.free_text_answer(&request) {
            return TestResult {
                requested: requested.to_owned(),
                matched: Some("exam.Findings".to_owned()),
                result: format!("{requested}: {excerpts}"),
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

    /// A request naming several analytes at once ("PT/PTT", "BUN/Cr", "Na, K"): each answered from
    /// its own result, when the case stores every one of them apart.
    fn several_concepts(&self, requested: &str, request: &Request) -> Option<TestResult> {
        let analytes: Vec<&String> =
            request.facets.concepts.iter().filter(|concept| concept.starts_with("analyte:")).collect();
        if analytes.len() < 2 || analytes.len() != request.facets.concepts.len() {
            return None;
        }
        let mut found: Vec<&ResultNode> = Vec::new();
        for concept in analytes {
            let single = Request {
                facets: Facets { concepts: std::iter::once(concept.clone()).collect(), ..request.facets.clone() },
                fluids: request.fluids.clone(),
                words: Vec::new(),
            };
            let (node, value) = self.best(&single)?;
            if value < THRESHOLD {
                return None;
            }
            if !found.iter().any(|known| known.path == node.path) {
                found.push(node);
            }
        }
        if found.len() == 1 {
            return Some(TestResult {
                requested: requested.to_owned(),
                matched: Some(found[0].path.clone()),
                result: describe(found[0]),
                assumed_normal: false,
            });
        }
        Some(TestResult {
            requested: requested.to_owned(),
            matched: Some(found.iter().map(|node| node.path.as_str()).collect::<Vec<_>>().join(" + ")),
            result: found.iter().map(|node| describe(node)).collect::<Vec<_>>().join("; "),
            assumed_normal: false,
        })
    }

    /// A panel request when the case stores the panel's components but no panel: the components.
    fn assemble_panel(&self, requested: &str, request: &Request) -> Option<TestResult> {
        let lexicon = Lexicon::get();
        let panels: Vec<&String> =
            request.facets.concepts.iter().filter(|concept| concept.starts_with("panel:")).collect();
        if panels.is_empty() {
            return None;
        }
        let members: Vec<&ResultNode> = self
            .nodes
            .iter()
            .filter(|node| compatible(request, node))
            .filter(|node| {
                node.own
                    .concepts
                    .iter()
                    .any(|concept| lexicon.panels_of(concept).iter().any(|panel| panels.contains(&panel)))
            })
            .collect();
        if members.is_empty() {
            return None;
        }
        let panel = lexicon.display(panels[0]);
        let items: Vec<String> = members.iter().map(|node| format!("{}: {}", node.name, node.text)).collect();
        Some(TestResult {
            requested: requested.to_owned(),
            matched: Some(members.iter().map(|node| node.path.as_str()).collect::<Vec<_>>().join(" + ")),
            result: format!("{} (the parts on record): {}", capitalise(&panel), items.join("; ")),
            assumed_normal: false,
        })
    }

    /// Free-text findings (NEJM cases): the sentences that report the requested test.
    fn free_text_answer(&self, request: &Request) -> Option<String> {
        let lexicon = Lexicon::get();
        let facets = &request.facets;
        let mut excerpts = Vec::new();
        for text in &self.free_text {
            for sentence in sentences(text) {
                let found = lexicon.facets(&sentence);
                let concept_panels: Vec<&String> =
                    found.concepts.iter().flat_map(|concept| lexicon.panels_of(concept)).collect();
                // "Laboratory studies were unremarkable" reports every routine blood test.
                let lowered = sentence.to_lowercase();
                let negated = [
                    "not include",
                    "not provided",
                    "not available",
                    "not reported",
                    "no specific",
                    "not mentioned",
                    "without",
                ]
                .iter()
                .any(|phrase| lowered.contains(phrase));
                let routine = !negated
                    && found.concepts.len() == 1
                    && found.concepts.contains("panel:routine labs")
                    && facets.concepts.iter().any(|concept| routine_lab(concept));
                let answers = if routine {
                    true
                } else if !facets.concepts.is_empty() {
                    !facets.concepts.is_disjoint(&found.concepts)
                        || facets.concepts.iter().any(|concept| concept_panels.contains(&concept))
                        || facets.concepts.iter().any(|concept| {
                            lexicon.panels_of(concept).iter().any(|panel| found.concepts.contains(panel))
                        })
                } else if request.imaging() {
                    // "Chest imaging showed …" reports a chest radiograph or CT.
                    let named = modalities_match(facets, &found)
                        || (found.modalities.is_empty()
                            && crate::lexicon::words(&sentence).iter().any(|word| word == "imaging"));
                    named
                        && (facets.regions.is_empty()
                            || facets
                                .regions
                                .iter()
                                .any(|left| found.regions.iter().any(|right| lexicon.regions_overlap(left, right))))
                } else if !facets.systems.is_empty() {
                    !facets.systems.is_disjoint(&found.systems)
                } else {
                    let words = plain_words(&sentence);
                    let wanted: Vec<&String> = request.words.iter().filter(|word| word.len() > 2).collect();
                    !wanted.is_empty() && wanted.iter().all(|word| words.iter().any(|other| close(word, other)))
                };
                if answers && !excerpts.contains(&sentence) {
                    excerpts.push(sentence.clone());
                }
            }
        }
        (!excerpts.is_empty()).then(|| excerpts.join(" "))
    }

    /// Results for several tests. A test that is itself a whole doctor's text (AgentClinic's
    /// strict routing sends the whole text) is split into its tests first, so each is answered.
    pub fn measure_all(&self, tests: &[String]) -> Vec<TestResult> {
        tests
            .iter()
            .flat_map(|test| {
                if test.to_lowercase().contains("request test") {
                    let parsed = crate::action::parse_text(test).tests;
                    if parsed.is_empty() { vec![test.clone()] } else { parsed }
                } else {
                    vec![test.clone()]
                }
            })
            .map(|test| self.measure(&test))
            .collect()
    }
}

/// The blood tests a statement such as "laboratory studies were unremarkable" reports.
fn routine_lab(concept: &str) -> bool {
    const ROUTINE: &[&str] = &[
        "panel:cbc",
        "panel:differential",
        "panel:bmp",
        "panel:cmp",
        "panel:lft",
        "panel:renal function",
        "panel:coagulation",
        "panel:inflammatory markers",
    ];
    ROUTINE.contains(&concept)
        || Lexicon::get().panels_of(concept).iter().any(|panel| ROUTINE.contains(&panel.as_str()))
}

fn capitalise(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// What the doctor reads for a matched node: its name (and its group's, for a component), then
/// the stored content.
fn describe(node: &ResultNode) -> String {
    match (&node.parent, node.group) {
        (Some(parent), false) if node.depth > 1 && !node.name.eq_ignore_ascii_case("findings") => {
            format!("{} (from the {parent}): {}", node.name, node.text)
        }
        (Some(parent), false) if node.name.eq_ignore_ascii_case("findings") => format!("{parent}: {}", node.text),
        _ => format!("{}: {}", node.name, node.text),
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

/// Sentences and list items of a free text, decimals ("9.1 g/dL") kept whole, and a heading
/// ("MRI of the brain:") kept with what follows it.
fn sentences(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut pieces: Vec<&str> = Vec::new();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let boundary = match byte {
            b';' | b'\n' => true,
            b'.' => bytes.get(index + 1).is_none_or(|next| next.is_ascii_whitespace()),
            _ => false,
        };
        if boundary {
            pieces.push(text[start..=index].trim());
            start = index + 1;
        }
    }
    pieces.push(text[start..].trim());
    let mut out: Vec<String> = Vec::new();
    let mut heading = String::new();
    for piece in pieces.into_iter().filter(|piece| piece.chars().filter(|c| c.is_alphanumeric()).count() > 2) {
        let clean = piece.trim_matches(|c: char| c == '*' || c == '-' || c.is_whitespace());
        if clean.ends_with(':') {
            heading.push_str(clean);
            heading.push(' ');
            continue;
        }
        out.push(format!("{heading}{piece}"));
        heading.clear();
    }
    if !heading.is_empty() {
        out.push(heading.trim_end().to_owned());
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn index(
    findings: &Findings,
    path: &str,
    depth: usize,
    parent: Option<&str>,
    context: &Facets,
    parent_words: &[String],
    nodes: &mut Vec<ResultNode>,
    free_text: &mut Vec<String>,
) {
    let lexicon = Lexicon::get();
    for (name, child) in &findings.0 {
        let own = lexicon.facets(name);
        let mut node_context = own.clone();
        node_context.absorb_context(context);
        // Concepts of the groups above (a panel) are context too, for the fluid.
        node_context.concepts.extend(context.concepts.iter().cloned());
        // A component's concepts stay its own; the group's concepts are not the component's.
        let own_words = plain_words(name);
        let mut qualified_words: Vec<String> = parent_words.iter().cloned().chain(own_words.iter().cloned()).collect();
        qualified_words.sort();
        qualified_words.dedup();
        let child_path = format!("{path}.{name}");
        let text = render_node(child);
        let text_concepts =
            if matches!(child, Finding::Group(_)) { Default::default() } else { lexicon.facets(&text).concepts };
        // Free text (NEJM findings, long narrative results) is also searched sentence by sentence.
        if let Finding::Text(body) = child
            && (body.len() > 200
                || matches!(crate::lexicon::words(name).join(" ").as_str(), "findings" | "results" | "other findings"))
        {
            free_text.push(body.clone());
        }
        // An examination finding named by a body part ("Heart", "Lungs") belongs to that
        // part's system.
        // A specific modality named by the node or a group above beats a generic "Imaging".
        if node_context.modalities.len() > 1 && node_context.modalities.contains("any") {
            node_context.modalities.remove("any");
        }
        let mut own = own;
        if path.starts_with("exam") && own.systems.is_empty() && node_context.modalities.is_empty() {
            let systems: Vec<String> = own
                .regions
                .iter()
                .flat_map(|region| systems_of_region(region).iter().map(|system| (*system).to_owned()))
                .collect();
            own.systems.extend(systems.iter().cloned());
            node_context.systems.extend(systems);
        }
        let fluids = if !own.fluids.is_empty() {
            // The node's own name says its fluid ("Serum_Glucose" under a lumbar puncture).
            own.fluids.clone()
        } else if node_context.fluids.is_empty() {
            own.concepts
                .iter()
                .chain(&context.concepts)
                .filter_map(|concept| lexicon.default_fluid(concept).map(str::to_owned))
                .collect()
        } else {
            node_context.fluids.clone()
        };
        let text_regions =
            if matches!(child, Finding::Group(_)) || own.modalities.is_empty() && context.modalities.is_empty() {
                Default::default()
            } else {
                let start: String = text.chars().take(160).collect();
                lexicon.facets(&start).regions
            };
        nodes.push(ResultNode {
            path: child_path.clone(),
            name: display_name(name),
            parent: parent.map(str::to_owned),
            depth,
            group: matches!(child, Finding::Group(_)),
            text,
            own,
            context: node_context.clone(),
            text_regions,
            own_words,
            qualified_words: qualified_words.clone(),
            fluids,
            text_concepts,
        });
        if let Finding::Group(group) = child {
            let display = display_name(name);
            index(group, &child_path, depth + 1, Some(&display), &node_context, &qualified_words, nodes, free_text);
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
