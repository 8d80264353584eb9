//! Votes over diagnoses, computed in code: synonyms merged by the judge's matcher, most votes
//! wins, ties broken by summed stated confidence, then by who spoke first.

use medsim_core::action::Differential;
use medsim_core::matching;
use medsim_core::transcript::Tally;

/// One ballot: a diagnosis and the voter's stated confidence (0–1), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Ballot {
    /// The diagnosis.
    pub diagnosis: String,
    /// Stated confidence.
    pub confidence: Option<f64>,
    /// A verifier's score, 0–10 (best-of-N).
    pub score: Option<f64>,
}

/// The outcome of a vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Candidates in the order of the decision: the winner first.
    pub tallies: Vec<Tally>,
    /// The winner.
    pub chosen: String,
    /// How it was decided.
    pub reason: String,
}

/// Majority vote. Ballots naming the same diagnosis (by the judge's matcher: case,
/// punctuation, plurals, word order, abbreviations) are merged under the first wording seen.
/// Ties on votes go to the higher summed confidence, then to the earliest ballot.
pub fn majority(ballots: &[Ballot]) -> Option<Outcome> {
    let tallies = merge(ballots);
    let mut order: Vec<usize> = (0..tallies.len()).collect();
    // Stable sort: the earliest candidate wins a complete tie.
    order.sort_by(|a, b| {
        let (a, b) = (&tallies[*a], &tallies[*b]);
        b.votes.cmp(&a.votes).then(b.confidence.total_cmp(&a.confidence))
    });
    let sorted: Vec<Tally> = order.iter().map(|index| tallies[*index].clone()).collect();
    let winner = sorted.first()?.clone();
    let reason = match sorted.get(1) {
        None => format!("unanimous: {} vote(s)", winner.votes),
        Some(second) if second.votes < winner.votes => {
            format!("majority: {} of {} vote(s)", winner.votes, ballots.len())
        }
        Some(second) if second.confidence < winner.confidence => format!(
            "tie at {} vote(s), broken by summed confidence {:.2} against {:.2}",
            winner.votes, winner.confidence, second.confidence
        ),
        Some(_) => format!("tie at {} vote(s) and equal confidence, broken by who spoke first", winner.votes),
    };
    Some(Outcome { chosen: winner.diagnosis.clone(), tallies: sorted, reason })
}

/// Best-of-N: the highest verifier score wins; equal scores go to more votes, then to the
/// earliest ballot.
pub fn best_scored(ballots: &[Ballot]) -> Option<Outcome> {
    let tallies = merge(ballots);
    let mut order: Vec<usize> = (0..tallies.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&tallies[*a], &tallies[*b]);
        b.score.unwrap_or(-1.0).total_cmp(&a.score.unwrap_or(-1.0)).then(b.votes.cmp(&a.votes))
    });
    let sorted: Vec<Tally> = order.iter().map(|index| tallies[*index].clone()).collect();
    let winner = sorted.first()?.clone();
    let reason = format!("highest verifier score {:.1} of {} candidate(s)", winner.score.unwrap_or(-1.0), sorted.len());
    Some(Outcome { chosen: winner.diagnosis.clone(), tallies: sorted, reason })
}

/// A format placeholder copied from a prompt ("Diagnosis A", "[diagnosis here]"), not a
/// diagnosis: small models do this.
pub fn is_placeholder(diagnosis: &str) -> bool {
    let tokens = medsim_core::matching::tokens(diagnosis);
    tokens.is_empty()
        || tokens.iter().all(|token| {
            matches!(
                token.as_str(),
                "diagnosis" | "diagnose" | "here" | "your" | "first" | "second" | "third" | "disease"
            ) || token.chars().count() == 1
        })
}

fn merge(ballots: &[Ballot]) -> Vec<Tally> {
    let mut tallies: Vec<Tally> = Vec::new();
    for ballot in ballots {
        let diagnosis = ballot.diagnosis.trim();
        if is_placeholder(diagnosis) {
            continue;
        }
        let confidence = ballot.confidence.unwrap_or(0.0).clamp(0.0, 1.0);
        match tallies.iter_mut().find(|tally| matching::same_diagnosis(&tally.diagnosis, diagnosis)) {
            Some(tally) => {
                tally.votes += 1;
                tally.confidence += confidence;
                tally.score = match (tally.score, ballot.score) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            None => tallies.push(Tally { diagnosis: diagnosis.to_owned(), votes: 1, confidence, score: ballot.score }),
        }
    }
    tallies
}

/// Reads a ranked differential from free text: numbered or bulleted lines such as
/// `1. Pulmonary embolism (60%)`, `- Pneumonia — 0.3`, `2) Asthma: confidence 0.1`. A
/// `DIAGNOSIS READY:` line counts as the first entry when no list is found.
pub fn parse_differential(text: &str) -> Vec<Differential> {
    let mut entries = Vec::new();
    let lines = split_items(text);
    for line in lines.iter().map(String::as_str) {
        let trimmed = line.trim();
        let rest = strip_list_marker(trimmed);
        let Some(rest) = rest else { continue };
        if let Some(entry) = entry_of(rest) {
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        if let Some(diagnosis) = medsim_core::action::parse_text(text).diagnosis {
            return vec![Differential { diagnosis: diagnosis.primary, probability: None }];
        }
        // A bare answer: its first line.
        if let Some(entry) = text.lines().map(str::trim).find(|line| !line.is_empty()).and_then(entry_of) {
            entries.push(entry);
        }
    }
    entries
}

/// Lines, with numbered items run together on one line ("1. A (60%) 2. B (30%)", as replies
/// arrive with white space collapsed) split apart.
fn split_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    for line in text.lines() {
        let bytes = line.as_bytes();
        let mut start = 0;
        let mut index = 0;
        while index < bytes.len() {
            let at_boundary = index == 0 || bytes[index - 1] == b' ';
            if at_boundary && bytes[index].is_ascii_digit() {
                let digits = bytes[index..].iter().take_while(|byte| byte.is_ascii_digit()).count();
                let after = index + digits;
                if digits <= 2
                    && after + 1 < bytes.len()
                    && (bytes[after] == b'.' || bytes[after] == b')')
                    && bytes[after + 1] == b' '
                    && index > start
                {
                    items.push(line[start..index].to_owned());
                    start = index;
                }
                index = after;
                continue;
            }
            index += 1;
        }
        items.push(line[start..].to_owned());
    }
    items
}

fn strip_list_marker(line: &str) -> Option<&str> {
    let digits = line.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits <= 2 {
        let rest = &line[digits..];
        return rest.strip_prefix(['.', ')', ':']).map(str::trim);
    }
    line.strip_prefix(['-', '*', '•']).map(str::trim)
}

fn entry_of(text: &str) -> Option<Differential> {
    let text = text.trim().trim_matches('*').trim();
    let text = text.strip_prefix("DIAGNOSIS READY:").unwrap_or(text).trim();
    // The diagnosis ends at the first of: '(', ' — ', ' - ', ':', ',' followed by a number.
    let mut cut = text.len();
    for marker in ["(", " — ", " – ", " - ", ": ", ", confidence", " confidence", " probability"] {
        if let Some(position) = text.find(marker) {
            cut = cut.min(position);
        }
    }
    let diagnosis = text[..cut].trim().trim_end_matches(['.', ',', ';']).trim().trim_matches('*').trim();
    if diagnosis.is_empty() || diagnosis.len() > 200 {
        return None;
    }
    Some(Differential { diagnosis: diagnosis.to_owned(), probability: probability_in(&text[cut..]) })
}

/// The first number in the text as a probability: `60%` → 0.6, `0.6` → 0.6.
fn probability_in(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let number: String = text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let value: f64 = number.trim_end_matches('.').parse().ok()?;
    let after = &text[start + number.len()..];
    let value = if after.trim_start().starts_with('%') || value > 1.0 { value / 100.0 } else { value };
    (0.0..=1.0).contains(&value).then_some(value)
}

/// The first number in a verifier's reply, clamped to 0–10.
pub fn parse_score(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let number: String = text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    number.trim_end_matches('.').parse::<f64>().ok().map(|score| score.clamp(0.0, 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ballot(diagnosis: &str, confidence: Option<f64>) -> Ballot {
        Ballot { diagnosis: diagnosis.into(), confidence, score: None }
    }

    #[test]
    fn majority_merges_synonyms_and_counts() {
        let outcome = majority(&[
            ballot("Pulmonary embolism", Some(0.6)),
            ballot("Pneumonia", Some(0.9)),
            ballot("pulmonary embolisms", Some(0.5)),
        ])
        .unwrap();
        assert_eq!(outcome.chosen, "Pulmonary embolism");
        assert_eq!(outcome.tallies[0].votes, 2);
        assert!((outcome.tallies[0].confidence - 1.1).abs() < 1e-9);
        assert_eq!(outcome.tallies[1].diagnosis, "Pneumonia");
        assert_eq!(outcome.reason, "majority: 2 of 3 vote(s)");
    }

    #[test]
    fn ties_go_to_confidence_then_to_the_first() {
        let outcome = majority(&[ballot("Asthma", Some(0.4)), ballot("COPD", Some(0.7))]).unwrap();
        assert_eq!(outcome.chosen, "COPD");
        assert!(outcome.reason.starts_with("tie at 1 vote(s), broken by summed confidence 0.70"), "{}", outcome.reason);
        let outcome = majority(&[ballot("Asthma", None), ballot("COPD", None)]).unwrap();
        assert_eq!(outcome.chosen, "Asthma");
        assert!(outcome.reason.contains("who spoke first"));
        assert!(majority(&[ballot("  ", None)]).is_none());
        // Copied format placeholders are not ballots.
        let outcome =
            majority(&[ballot("Diagnosis A", Some(0.6)), ballot("Diagnosis A", None), ballot("Gout", None)]).unwrap();
        assert_eq!(outcome.chosen, "Gout");
        assert!(is_placeholder("[diagnosis here]") && !is_placeholder("Hepatitis A"));
    }

    #[test]
    fn best_of_takes_the_highest_score() {
        let scored =
            |diagnosis: &str, score| Ballot { diagnosis: diagnosis.into(), confidence: None, score: Some(score) };
        let outcome =
            best_scored(&[scored("Gout", 4.0), scored("Septic arthritis", 8.0), scored("gout", 6.0)]).unwrap();
        assert_eq!(outcome.chosen, "Septic arthritis");
        assert_eq!(outcome.tallies[1].score, Some(6.0));
    }

    #[test]
    fn differentials_are_read_from_lists() {
        let parsed = parse_differential(
            "My differential:\n1. Pulmonary embolism (60%)\n2) Pneumonia — 0.3\n- **Asthma**: confidence 0.1\n",
        );
        let names: Vec<&str> = parsed.iter().map(|entry| entry.diagnosis.as_str()).collect();
        assert_eq!(names, ["Pulmonary embolism", "Pneumonia", "Asthma"]);
        let probabilities: Vec<Option<f64>> = parsed.iter().map(|entry| entry.probability).collect();
        assert_eq!(probabilities, [Some(0.6), Some(0.3), Some(0.1)]);
        let collapsed = parse_differential("Cardiology. 1. Myocardial infarction (80%) 2. Aortic dissection (10%)");
        assert_eq!(collapsed.len(), 2, "{collapsed:?}");
        assert_eq!(collapsed[0].diagnosis, "Myocardial infarction");
        assert_eq!(collapsed[1].probability, Some(0.1));
        assert_eq!(parse_differential("DIAGNOSIS READY: Gout")[0].diagnosis, "Gout");
        assert_eq!(parse_differential("Gout.")[0].diagnosis, "Gout");
        assert_eq!(parse_score("Score: 7/10"), Some(7.0));
        assert_eq!(parse_score("I'd say 12"), Some(10.0));
    }
}
