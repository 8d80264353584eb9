//! Deciding, without a model, whether a doctor's diagnosis names the case's disease.
//!
//! [`shortcut`] decides only what it can decide with certainty: the same name (up to case,
//! punctuation, articles, plurals, a trailing parenthetical, or a name of the same disease in the
//! lexicon's `diagnoses` groups) is correct; a hedge or a list, a conflicting qualifier (A/B, 1/2,
//! left/right, hypo/hyper, acute/chronic …) and an answer that drops a letter or number of the
//! truth ("Hepatitis" for "Hepatitis A") are incorrect. Word order counts. Everything else is
//! undecided and goes to [`rules`] and then to a judge model.
//!
//! [`rules`] adds one rule with a measured error rate (see BENCHMARKS.md): an answer that holds
//! the truth's words in order and adds only qualifiers is a more specific form of it ("Acute
//! pulmonary embolism" for "Pulmonary embolism") and correct.

use std::collections::HashMap;
use std::sync::OnceLock;

/// What the shortcut concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The same disease; why.
    Correct(String),
    /// Not the same disease; why.
    Incorrect(String),
    /// Cannot tell without a model.
    Undecided,
}

/// Words dropped before comparing: articles, and what doctors put around a diagnosis.
const FILLER: &[&str] = &[
    "the",
    "an",
    "final",
    "diagnosis",
    "dx",
    "most",
    "likely",
    "probable",
    "probably",
    "suspected",
    "presumed",
    "primary",
    "working",
    "impression",
];

/// Qualifier words: a more specific form of a disease adds these and nothing that names another.
const QUALIFIERS: &[&str] = &[
    "acute",
    "chronic",
    "subacute",
    "severe",
    "mild",
    "moderate",
    "early",
    "late",
    "recurrent",
    "relapsing",
    "active",
    "generalized",
    "generalised",
    "localized",
    "localised",
    "focal",
    "diffuse",
    "bilateral",
    "unilateral",
    "left",
    "right",
    "upper",
    "lower",
    "lobe",
    "uncomplicated",
    "complicated",
    "idiopathic",
    "primary",
    "secondary",
    "acquired",
    "congenital",
    "familial",
    "hereditary",
    "sporadic",
    "adult",
    "juvenile",
    "infantile",
    "neonatal",
    "childhood",
    "onset",
    "stage",
    "grade",
    "type",
    "form",
    "variant",
    "disease",
    "syndrome",
    "infection",
    "with",
    "without",
    "due",
    "to",
    "of",
    "and",
    "in",
    "from",
    "by",
    "caused",
    "induced",
    "associated",
    "related",
    "community",
    "acquired",
    "hospital",
    "nosocomial",
    "bacterial",
    "viral",
    "fungal",
    "simple",
    "classic",
    "classical",
    "typical",
    "atypical",
    "exacerbation",
    "flare",
    "episode",
    "attack",
    "state",
    "crisis",
    "phase",
    "unspecified",
    "presentation",
    "likely",
    "probable",
];

/// Words that turn an answer against its own diagnosis.
const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "non",
    "without",
    "ruled",
    "excluded",
    "exclude",
    "unlikely",
    "negative",
    "absence",
    "absent",
    "vs",
    "versus",
    "or",
    "differential",
];

fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            '’' | '‘' | '`' => '\'',
            other => other,
        })
        .collect()
}

/// Ordered words of a diagnosis: lower case, accents folded, possessives and punctuation gone,
/// plurals singular, filler dropped, and "a" only where it is an article (first word).
pub fn words(text: &str) -> Vec<String> {
    let folded = fold(&text.to_lowercase()).replace("'s ", " ").replace("'s", " ").replace('\'', "");
    let spaced: String = folded.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let mut out: Vec<String> = Vec::new();
    for (index, word) in spaced.split_whitespace().enumerate() {
        if FILLER.contains(&word) || (index == 0 && word == "a") {
            continue;
        }
        out.push(singular(word));
    }
    out
}

fn singular(word: &str) -> String {
    crate::matching::tokens(word).into_iter().next().unwrap_or_else(|| word.to_owned())
}

/// The names a text gives a diagnosis: the whole, without a parenthetical, and the
/// parenthetical alone (often an abbreviation).
fn forms(text: &str) -> Vec<Vec<String>> {
    let mut out = vec![words(text)];
    if let (Some(open), Some(close)) = (text.find('('), text.rfind(')'))
        && open < close
    {
        out.push(words(&format!("{} {}", &text[..open], &text[close + 1..])));
        out.push(words(&text[open + 1..close]));
    }
    out.retain(|form| !form.is_empty());
    out
}

/// The lexicon's groups of names for one disease, by normalised name.
fn synonym_groups() -> &'static HashMap<String, usize> {
    static GROUPS: OnceLock<HashMap<String, usize>> = OnceLock::new();
    GROUPS.get_or_init(|| {
        let mut map = HashMap::new();
        for (index, group) in crate::lexicon::Lexicon::get().diagnosis_groups().iter().enumerate() {
            for name in group {
                map.insert(words(name).join(" "), index);
            }
        }
        map
    })
}

/// True when the answer hedges between several diagnoses or lists them.
pub fn is_hedge(answer: &str) -> bool {
    let lower = fold(&answer.to_lowercase());
    let padded = format!(" {} ", lower.replace(['(', ')', ',', '.', ':'], " "));
    [" or ", " vs ", " versus ", " and/or ", " differential ", " ddx "].iter().any(|marker| padded.contains(marker))
        || lower.contains(';')
        || lower.contains(" / ")
        || lower.contains('\n')
        || {
            // "1. Gout 2. Pseudogout", "1) … 2) …"
            let digits: Vec<char> = lower.chars().collect();
            digits.windows(2).filter(|pair| pair[0] == '2' && (pair[1] == '.' || pair[1] == ')')).count() > 0
                && (lower.starts_with("1.")
                    || lower.starts_with("1)")
                    || lower.contains(" 1.")
                    || lower.contains(" 1)"))
        }
}

fn has_negation(words: &[String]) -> bool {
    words.iter().any(|word| NEGATIONS.contains(&word.as_str()))
}

/// Letters, numbers and roman numerals: a change of one is a change of disease.
fn is_designator(word: &str) -> bool {
    (word.len() == 1 && word.chars().all(|c| c.is_ascii_alphanumeric()))
        || word.chars().all(|c| c.is_ascii_digit())
        || matches!(
            word,
            "i" | "ii"
                | "iii"
                | "iv"
                | "v"
                | "vi"
                | "vii"
                | "viii"
                | "ix"
                | "x"
                | "xi"
                | "xii"
                | "1a"
                | "1b"
                | "2a"
                | "2b"
        )
}

/// Two words that cannot both describe the same disease.
fn conflicting(left: &str, right: &str) -> bool {
    const PAIRS: &[(&str, &str)] = &[
        ("left", "right"),
        ("acute", "chronic"),
        ("primary", "secondary"),
        ("upper", "lower"),
        ("anterior", "posterior"),
        ("benign", "malignant"),
        ("congenital", "acquired"),
        ("central", "peripheral"),
        ("proximal", "distal"),
        ("unilateral", "bilateral"),
        ("systolic", "diastolic"),
        ("obstructive", "restrictive"),
        ("ischemic", "hemorrhagic"),
        ("ischaemic", "haemorrhagic"),
        ("superior", "inferior"),
        ("medial", "lateral"),
        ("internal", "external"),
        ("partial", "complete"),
        ("ulcerative", "crohn"),
        ("insipidus", "mellitus"),
        ("conjugated", "unconjugated"),
        ("direct", "indirect"),
        ("hypertrophic", "dilated"),
        ("hypertrophic", "restrictive"),
        ("dilated", "restrictive"),
    ];
    if is_designator(left) && is_designator(right) {
        return true;
    }
    if PAIRS.iter().any(|(a, b)| (left == *a && right == *b) || (left == *b && right == *a)) {
        return true;
    }
    // hypothyroidism / hyperthyroidism, hypokalemia / hyperkalemia …
    for (a, b) in [("hypo", "hyper"), ("hyper", "hypo")] {
        if let (Some(x), Some(y)) = (left.strip_prefix(a), right.strip_prefix(b))
            && x == y
        {
            return true;
        }
    }
    false
}

fn difference(left: &[String], right: &[String]) -> Vec<String> {
    let mut remaining: Vec<&String> = right.iter().collect();
    let mut out = Vec::new();
    for word in left {
        if let Some(position) = remaining.iter().position(|other| *other == word) {
            remaining.remove(position);
        } else {
            out.push(word.clone());
        }
    }
    out
}

/// Decides what can be decided with certainty.
pub fn shortcut(truth: &str, answer: &str) -> Decision {
    let truth_words = words(truth);
    let answer_words = words(answer);
    if answer_words.is_empty() {
        return Decision::Incorrect("no diagnosis".into());
    }
    if !truth_words.is_empty() && truth_words == answer_words {
        return Decision::Correct("the same name".into());
    }
    if is_hedge(answer) && !is_hedge(truth) {
        return Decision::Incorrect("a hedge or a list, not one diagnosis".into());
    }
    if has_negation(&answer_words) && !has_negation(&truth_words) {
        return Decision::Undecided;
    }
    let truth_forms = forms(truth);
    let answer_forms = forms(answer);
    for answer_form in &answer_forms {
        if truth_forms.iter().any(|truth_form| truth_form == answer_form) {
            return Decision::Correct("the same name, with or without its parenthetical".into());
        }
    }
    let groups = synonym_groups();
    let group_of = |form: &Vec<String>| groups.get(&form.join(" ")).copied();
    let truth_groups: Vec<usize> = truth_forms.iter().filter_map(group_of).collect();
    if let Some(group) = answer_forms.iter().filter_map(group_of).find(|group| truth_groups.contains(group)) {
        let names = crate::lexicon::Lexicon::get().diagnosis_groups()[group].first().cloned().unwrap_or_default();
        return Decision::Correct(format!("names of one disease ({names})"));
    }
    let only_truth = difference(&truth_words, &answer_words);
    let only_answer = difference(&answer_words, &truth_words);
    for left in &only_truth {
        if let Some(right) = only_answer.iter().find(|right| conflicting(left, right)) {
            return Decision::Incorrect(format!("{right:?} where the truth has {left:?}"));
        }
    }
    if only_answer.is_empty() && !only_truth.is_empty() && only_truth.iter().any(|word| is_designator(word)) {
        return Decision::Incorrect(format!("broader than the truth: drops {:?}", only_truth.join(" ")));
    }
    Decision::Undecided
}

/// Words that make a relation between two things; their order carries meaning.
const RELATIONS: &[&str] = &["to", "from", "into", "metastatic", "secondary", "due", "caused", "by", "in", "with"];

/// The shortcut, then the rules: a more specific form of the truth is correct; a broader one
/// (dropping words that are not mere qualifiers) and a reversed relation are incorrect.
pub fn rules(truth: &str, answer: &str) -> Decision {
    match shortcut(truth, answer) {
        Decision::Undecided => {}
        decided => return decided,
    }
    let truth_words = words(truth);
    let answer_words = words(answer);
    if truth_words.is_empty() || has_negation(&answer_words) || is_hedge(answer) {
        return Decision::Undecided;
    }
    let only_truth = difference(&truth_words, &answer_words);
    let only_answer = difference(&answer_words, &truth_words);
    if only_answer.is_empty()
        && !only_truth.is_empty()
        && only_truth.iter().any(|word| !QUALIFIERS.contains(&word.as_str()))
    {
        return Decision::Incorrect(format!("broader than the truth: drops {:?}", only_truth.join(" ")));
    }
    if only_truth.is_empty()
        && only_answer.is_empty()
        && truth_words != answer_words
        && truth_words.iter().any(|word| RELATIONS.contains(&word.as_str()))
    {
        return Decision::Incorrect("the same words in another order: the relation is reversed".into());
    }
    // The truth's words appear in the answer in order, and the answer adds only qualifiers.
    let mut position = 0;
    for word in &answer_words {
        if position < truth_words.len() && *word == truth_words[position] {
            position += 1;
        }
    }
    let extra = difference(&answer_words, &truth_words);
    if position == truth_words.len() && extra.iter().all(|word| QUALIFIERS.contains(&word.as_str())) {
        return Decision::Correct(format!("a more specific form of the truth (adds {:?})", extra.join(" ")));
    }
    Decision::Undecided
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(truth: &str, answer: &str) -> &'static str {
        match shortcut(truth, answer) {
            Decision::Correct(_) => "correct",
            Decision::Incorrect(_) => "incorrect",
            Decision::Undecided => "undecided",
        }
    }

    #[test]
    fn letters_numbers_laterality_and_prefixes_are_significant() {
        assert_eq!(verdict("Hepatitis A", "Hepatitis"), "incorrect");
        assert_eq!(verdict("Hemophilia A", "Hemophilia B"), "incorrect");
        assert_eq!(verdict("Vitamin A deficiency", "Vitamin D deficiency"), "incorrect");
        assert_eq!(verdict("Protein S deficiency", "Protein C deficiency"), "incorrect");
        assert_eq!(verdict("Type 1 diabetes mellitus", "Type 2 diabetes mellitus"), "incorrect");
        assert_eq!(verdict("Hypothyroidism", "Hyperthyroidism"), "incorrect");
        assert_eq!(verdict("Left ventricular failure", "Right ventricular failure"), "incorrect");
        assert_eq!(verdict("Vitamin A deficiency", "Vitamin deficiency"), "incorrect");
        assert_eq!(verdict("Hepatitis A", "hepatitis a."), "correct");
    }

    #[test]
    fn word_order_that_changes_meaning_is_not_a_match() {
        assert_ne!(verdict("Lung cancer metastatic to the brain", "Brain cancer metastatic to the lung"), "correct");
    }

    #[test]
    fn hedges_are_never_a_match() {
        assert_eq!(verdict("Gout", "Gout or pseudogout"), "incorrect");
        assert_eq!(verdict("Septic arthritis", "1. Septic arthritis 2. Gout"), "incorrect");
        assert_eq!(verdict("Gout", "Gout vs septic arthritis"), "incorrect");
        assert_eq!(verdict("Pulmonary embolism", "Pulmonary embolism ruled out"), "undecided");
    }

    #[test]
    fn names_of_one_disease_and_parentheticals_match() {
        assert_eq!(verdict("Myasthenia gravis", "Myasthenia Gravis."), "correct");
        assert_eq!(verdict("Systemic lupus erythematosus", "SLE"), "correct");
        assert_eq!(verdict("SLE", "Systemic lupus erythematosus (SLE)"), "correct");
        assert_eq!(verdict("Hodgkin's lymphoma", "Hodgkin lymphoma"), "correct");
        assert_eq!(verdict("Pulmonary embolism", "Acute pulmonary embolism"), "undecided");
        assert_eq!(verdict("Hodgkin lymphoma", "Non-Hodgkin lymphoma"), "undecided");
    }

    #[test]
    fn more_specific_forms_are_correct_by_rule_but_not_other_diseases() {
        let decide = |truth, answer| matches!(rules(truth, answer), Decision::Correct(_));
        assert!(decide("Pulmonary embolism", "Acute pulmonary embolism"));
        assert!(decide("Myasthenia gravis", "Generalized myasthenia gravis"));
        assert!(!decide("Hodgkin lymphoma", "Non-Hodgkin lymphoma"));
        assert!(!decide("Anemia", "Iron deficiency anemia"), "iron names another disease, not a qualifier");
        assert!(!decide("Pulmonary embolism", "Pulmonary embolism or pneumonia"));
        let incorrect = |truth, answer| matches!(rules(truth, answer), Decision::Incorrect(_));
        assert!(incorrect("Iron deficiency anemia", "Anemia"), "broader");
        assert!(!incorrect("Acute pulmonary embolism", "Pulmonary embolism"), "only a qualifier dropped");
        assert!(incorrect("Lung cancer metastatic to the brain", "Brain cancer metastatic to the lung"));
        assert!(incorrect("Type 2 diabetes mellitus", "Diabetes mellitus type 1 with ketoacidosis"));
    }
}
