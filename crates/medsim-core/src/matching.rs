//! Diagnosis matching: does a text name this diagnosis, up to case, punctuation, plurals and word
//! order?
//!
//! The leak audit uses it to find cases whose answer is written in what the patient or the
//! measurement agent is given; the engine later uses the same matcher to check patient
//! utterances and to let the judge decide exact matches without a model call.

/// Words that carry no diagnostic meaning and are ignored when comparing.
const STOPWORDS: &[&str] = &["a", "an", "the", "of", "and", "with", "in", "on", "to", "due", "by", "for", "or", "from"];

/// Lower-cased, punctuation-free, singular word tokens of a text, stopwords removed.
pub fn tokens(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    let spaced: String =
        lowered.chars().map(|character| if character.is_alphanumeric() { character } else { ' ' }).collect();
    spaced
        .split_whitespace()
        // A lone "s" is what is left of a possessive ("Hodgkin's").
        .filter(|word| *word != "s" && !STOPWORDS.contains(word))
        .map(singular)
        .collect()
}

/// A crude singular: enough for `cysts`/`cyst`, `bodies`/`body`, `abscesses`/`abscess`, while
/// leaving words such as `sepsis`, `virus`, `illness` alone.
fn singular(word: &str) -> String {
    let length = word.chars().count();
    if length <= 3 || !word.is_ascii() {
        return word.to_owned();
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suffix in ["sses", "xes", "ches", "shes"] {
        if word.ends_with(suffix) {
            return word[..word.len() - 2].to_owned();
        }
    }
    if word.ends_with('s') && !["ss", "us", "is", "os", "as"].iter().any(|ending| word.ends_with(ending)) {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// The forms of a diagnosis worth looking for: the whole text, the text without a parenthetical,
/// the parenthetical itself (often an abbreviation), and alternatives separated by `/` or ` or `.
pub fn variants(diagnosis: &str) -> Vec<Vec<String>> {
    let mut forms: Vec<String> = vec![diagnosis.to_owned()];
    if let (Some(open), Some(close)) = (diagnosis.find('('), diagnosis.rfind(')'))
        && open < close
    {
        forms.push(format!("{} {}", &diagnosis[..open], &diagnosis[close + 1..]));
        forms.push(diagnosis[open + 1..close].to_owned());
    }
    let mut split_forms = Vec::new();
    for form in &forms {
        if form.contains('/') || form.contains(" or ") {
            split_forms.extend(form.split(['/']).flat_map(|part| part.split(" or ")).map(str::to_owned));
        }
    }
    forms.extend(split_forms);

    let mut out: Vec<Vec<String>> = Vec::new();
    for form in forms {
        let form_tokens = tokens(&form);
        // A lone abbreviation of one or two letters would match too much.
        let meaningful = form_tokens.iter().map(|token| token.chars().count()).sum::<usize>() >= 3;
        if meaningful && !out.contains(&form_tokens) {
            out.push(form_tokens);
        }
    }
    out
}

/// Where in `text` a form of the diagnosis occurs: the tokens of the matching window, if any.
/// A match is a run of consecutive words that holds exactly the diagnosis's words, in any order.
pub fn find(diagnosis_forms: &[Vec<String>], text: &str) -> Option<String> {
    find_span(diagnosis_forms, text).map(|(_, matched)| matched)
}

/// Like [`find`], also giving the byte range of `text` the matching words span.
pub fn find_span(diagnosis_forms: &[Vec<String>], text: &str) -> Option<(std::ops::Range<usize>, String)> {
    // Words with their byte ranges; stopwords have no token.
    let words: Vec<(usize, usize, String)> = word_spans(text)
        .into_iter()
        .filter_map(|(begin, end)| tokens(&text[begin..end]).into_iter().next().map(|token| (begin, end, token)))
        .collect();
    for form in diagnosis_forms {
        let width = form.len();
        if width == 0 || width > words.len() {
            continue;
        }
        let mut sorted_form = form.clone();
        sorted_form.sort();
        for window in words.windows(width) {
            let mut sorted_window: Vec<&String> = window.iter().map(|(_, _, token)| token).collect();
            sorted_window.sort();
            if sorted_window.iter().zip(&sorted_form).all(|(left, right)| *left == right) {
                let matched = window.iter().map(|(_, _, token)| token.as_str()).collect::<Vec<_>>().join(" ");
                return Some((window[0].0..window[width - 1].1, matched));
            }
        }
    }
    None
}

/// Byte ranges of the words (runs of letters and digits) of a text.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (index, character) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (character.is_alphanumeric(), start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                spans.push((begin, index));
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// True when `short` reads as an abbreviation of one of the diagnosis's forms: its letters, in
/// order, begin every word of the form (stopwords aside) and may take further letters from inside
/// a word (`DKA` for diabetic ketoacidosis, `GERD` for gastro-oesophageal reflux disease).
/// `short` must be two to six capital letters, optionally with a plural `s` (`UTIs`), and the
/// form must have at least two words, so that a single-word diagnosis never gets an abbreviation
/// from its own letters (`CT` is not cholecystitis).
pub fn abbreviates(short: &str, diagnosis: &str) -> bool {
    let stem = short.strip_suffix('s').unwrap_or(short);
    let length = stem.chars().count();
    if !(2..=6).contains(&length) || !stem.chars().all(|character| character.is_ascii_uppercase()) {
        return false;
    }
    let letters: Vec<char> = stem.to_ascii_lowercase().chars().collect();
    // The forms of `variants` (whole, without its parenthetical, alternatives), stopwords removed.
    variants(diagnosis).iter().any(|form| {
        let words: Vec<Vec<char>> = form.iter().map(|word| word.chars().collect()).collect();
        words.len() >= 2 && initials_match(&letters, &words)
    })
}

/// Whether `letters` is the first letter of each word in turn, each optionally followed by more
/// letters taken in order from later in the same word.
fn initials_match(letters: &[char], words: &[Vec<char>]) -> bool {
    let Some((word, rest)) = words.split_first() else { return letters.is_empty() };
    let Some((first, after)) = letters.split_first() else { return false };
    if word.first() != Some(first) {
        return false;
    }
    // Take 0..k further letters from inside this word, then go on to the next word.
    let mut taken = 0;
    let mut position = 1;
    loop {
        if initials_match(&after[taken..], rest) {
            return true;
        }
        let Some(next) = after.get(taken) else { return false };
        match word[position..].iter().position(|character| character == next) {
            Some(offset) => {
                position += offset + 1;
                taken += 1;
            }
            None => return false,
        }
    }
}

/// True when the two diagnoses are the same up to case, punctuation, plurals and word order.
pub fn same_diagnosis(left: &str, right: &str) -> bool {
    let mut left_tokens = tokens(left);
    let mut right_tokens = tokens(right);
    left_tokens.sort();
    right_tokens.sort();
    !left_tokens.is_empty() && left_tokens == right_tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaks(diagnosis: &str, text: &str) -> bool {
        find(&variants(diagnosis), text).is_some()
    }

    #[test]
    fn case_punctuation_plural_and_order_do_not_hide_a_match() {
        assert!(leaks("Myasthenia gravis", "Findings consistent with MYASTHENIA-GRAVIS."));
        assert!(leaks("Ovarian cyst", "Bilateral ovarian cysts seen."));
        assert!(leaks("Vitamin B12 deficiency", "Deficiency of vitamin B12 confirmed"));
        assert!(leaks("Chronic obstructive pulmonary disease (COPD)", "history of COPD"));
        assert!(leaks("Hodgkin's lymphoma", "Reed-Sternberg cells; Hodgkin lymphoma"), "possessive 's splits off");
    }

    #[test]
    fn related_words_are_not_a_match() {
        assert!(!leaks("Myasthenia gravis", "Acetylcholine receptor antibodies present"));
        assert!(!leaks("Sepsis", "no signs of sepsi"));
        assert!(!leaks("Acute pancreatitis", "pancreatitis"), "all of the diagnosis's words are needed");
        assert!(!leaks("Lyme disease", "disease of the lymph nodes"));
    }

    #[test]
    fn singulars_leave_latin_endings_alone() {
        assert_eq!(
            tokens("Abscesses bodies sepsis virus illness cysts"),
            ["abscess", "body", "sepsis", "virus", "illness", "cyst"]
        );
    }

    #[test]
    fn abbreviations_are_recognised_from_the_diagnosis_words() {
        for (short, diagnosis) in [
            ("IBS", "Irritable bowel syndrome"),
            ("DKA", "Diabetic ketoacidosis"),
            ("GERD", "Gastroesophageal reflux disease"),
            ("COPD", "Chronic obstructive pulmonary disease"),
            ("PCOS", "Polycystic ovary syndrome"),
            ("STEMI", "ST-elevation myocardial infarction"),
            ("UTIs", "Urinary tract infection"),
            ("PML", "Progressive multifocal leukoencephalopathy (PML)"),
            ("MI", "Myocardial infarction / acute coronary syndrome"),
        ] {
            assert!(abbreviates(short, diagnosis), "{short} for {diagnosis}");
        }
        for (short, diagnosis) in [
            ("CT", "Cholecystitis"),
            ("CBC", "Irritable bowel syndrome"),
            ("IB", "Irritable bowel syndrome"),
            ("ibs", "Irritable bowel syndrome"),
            ("ECG", "Acute myocardial infarction"),
            ("BS", "Irritable bowel syndrome"),
        ] {
            assert!(!abbreviates(short, diagnosis), "{short} is not {diagnosis}");
        }
    }

    #[test]
    fn same_diagnosis_ignores_form() {
        assert!(same_diagnosis("Myasthenia Gravis.", "gravis, myasthenia"));
        assert!(!same_diagnosis("Myasthenia gravis", "Ocular myasthenia gravis"));
        assert!(!same_diagnosis("", ""));
    }
}
