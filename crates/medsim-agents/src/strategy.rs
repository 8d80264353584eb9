//! Doctor strategies, composed from one string such as
//! `cot,memory:k=3,reflection,panel:n=3:rounds=2` or `self-consistency:k=5`.
//!
//! - `cot`: the doctor reasons privately before each action and before the diagnosis;
//! - `memory[:k=N]`: the k most similar solved cases of experience memory are placed in the
//!   doctor's prompt as worked examples;
//! - `reflection[:mask=false]`: the lessons mechanism. In `medsim learn` the doctor reflects on
//!   each wrong verdict and stores the lesson if it fixes the retried diagnosis (the retry sees
//!   the lesson with the answer blanked out; `mask=false` shows it as written, as MedAgentSim
//!   does); with `memory`, lessons are retrieved beside the solved cases;
//! - `panel[:n=N][:rounds=R]`: n doctors with distinct roles discuss for r rounds and vote;
//! - `self-consistency[:k=K][:temperature=T]`: k sampled final diagnoses, voted;
//! - `best-of[:n=N][:temperature=T]`: n sampled final diagnoses, the one a verifier (the judge
//!   model, shown no ground truth) scores best.
//!
//! - `dxo[:threshold=P][:tests=N]`: the orchestrator doctor in the spirit of MAI-DxO: each
//!   turn a hypothesis keeper, a test chooser, a challenger and a steward deliberate, a checklist
//!   checks their orders, and code decides (see [`crate::orchestrator`]). It diagnoses once the
//!   leading hypothesis reaches probability P (default 0.7) and orders at most N tests a turn
//!   (default 3). It stands alone: no other strategy combines with it.
//!
//! Panel, self-consistency and best-of are alternative ways of deciding: at most one is set.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A strategy string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--strategy {input:?}: {message}\n  hint: {hint}")]
pub struct StrategyError {
    /// The whole string.
    pub input: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Experience memory settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStrategy {
    /// Entries retrieved.
    pub k: usize,
}

/// Panel settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelStrategy {
    /// Doctors on the panel.
    pub n: usize,
    /// Discussion rounds.
    pub rounds: u32,
}

/// Sampling settings of self-consistency and best-of-N.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingStrategy {
    /// Samples (the doctor's own diagnosis is the first).
    pub k: usize,
    /// Temperature of the extra samples.
    pub temperature: f64,
}

/// Orchestrator settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DxoStrategy {
    /// Diagnose once the leading hypothesis is at least this probable.
    pub threshold: f64,
    /// The most tests ordered in one turn.
    pub tests: usize,
}

/// The strategies of a doctor; the default is none (AgentClinic's doctor).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Strategies {
    /// Private chain-of-thought.
    pub cot: bool,
    /// Experience memory.
    pub memory: Option<MemoryStrategy>,
    /// Lessons from reflection.
    pub reflection: bool,
    /// Reflection's retry sees the lesson as written, even where it names the answer
    /// (MedAgentSim's filter); by default the answer is blanked out of it.
    #[serde(default)]
    pub reflection_unmasked: bool,
    /// Doctors' panel.
    pub panel: Option<PanelStrategy>,
    /// Self-consistency.
    pub self_consistency: Option<SamplingStrategy>,
    /// Best-of-N with a verifier.
    pub best_of: Option<SamplingStrategy>,
    /// The orchestrator doctor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dxo: Option<DxoStrategy>,
}

const NAMES: &str = "cot, memory[:k=N], reflection[:mask=false], panel[:n=N][:rounds=R], self-consistency[:k=K][:temperature=T], best-of[:n=N][:temperature=T], dxo[:threshold=P][:tests=N], baseline";

impl Strategies {
    /// Parses a comma-separated list; `""`, `none` and `baseline` mean no strategy.
    pub fn parse(input: &str) -> Result<Strategies, StrategyError> {
        let fail =
            |message: String, hint: &str| StrategyError { input: input.to_owned(), message, hint: hint.to_owned() };
        let mut strategies = Strategies::default();
        for item in input.split([',', '+']).map(str::trim).filter(|item| !item.is_empty()) {
            let mut parts = item.split(':');
            let name = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut params: Vec<(String, String)> = Vec::new();
            for part in parts {
                let (key, value) = part.split_once('=').ok_or_else(|| {
                    fail(format!("{item}: expected key=value after ':', found {part:?}"), "write e.g. memory:k=3")
                })?;
                params.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
            let allowed: &[&str] = match name.as_str() {
                "cot" | "baseline" | "none" => &[],
                "reflection" => &["mask"],
                "memory" => &["k"],
                "panel" => &["n", "rounds"],
                "self-consistency" | "sc" => &["k", "temperature"],
                "best-of" | "bon" => &["n", "temperature"],
                "dxo" => &["threshold", "tests"],
                _ => return Err(fail(format!("unknown strategy {name:?}"), &format!("strategies are {NAMES}"))),
            };
            if let Some((key, _)) = params.iter().find(|(key, _)| !allowed.contains(&key.as_str())) {
                return Err(fail(
                    format!("{name} has no parameter {key:?}"),
                    &format!(
                        "{name} takes {}",
                        if allowed.is_empty() { "no parameters".into() } else { allowed.join(", ") }
                    ),
                ));
            }
            let number = |key: &str, default: usize, min: usize, max: usize| -> Result<usize, StrategyError> {
                match params.iter().find(|(name, _)| name == key) {
                    None => Ok(default),
                    Some((_, value)) => match value.parse::<usize>() {
                        Ok(parsed) if (min..=max).contains(&parsed) => Ok(parsed),
                        _ => Err(fail(
                            format!("{name}:{key}={value}: expected a whole number from {min} to {max}"),
                            &format!("e.g. {name}:{key}={default}"),
                        )),
                    },
                }
            };
            let temperature = || -> Result<f64, StrategyError> {
                match params.iter().find(|(name, _)| name == "temperature") {
                    None => Ok(0.7),
                    Some((_, value)) => match value.parse::<f64>() {
                        Ok(parsed) if (0.0..=2.0).contains(&parsed) => Ok(parsed),
                        _ => Err(fail(
                            format!("{name}:temperature={value}: expected a number from 0 to 2"),
                            "e.g. temperature=0.7",
                        )),
                    },
                }
            };
            match name.as_str() {
                "cot" => strategies.cot = true,
                "reflection" => {
                    strategies.reflection = true;
                    strategies.reflection_unmasked =
                        match params.iter().find(|(key, _)| key == "mask").map(|(_, value)| value.as_str()) {
                            None | Some("true") => false,
                            Some("false") => true,
                            Some(value) => {
                                return Err(fail(
                                    format!("reflection:mask={value}: expected true or false"),
                                    "reflection:mask=false shows the retry the lesson as written",
                                ));
                            }
                        };
                }
                "baseline" | "none" => {}
                "memory" => strategies.memory = Some(MemoryStrategy { k: number("k", 3, 1, 32)? }),
                "panel" => {
                    strategies.panel =
                        Some(PanelStrategy { n: number("n", 3, 2, 8)?, rounds: number("rounds", 2, 1, 5)? as u32 })
                }
                "dxo" => {
                    let threshold = match params.iter().find(|(key, _)| key == "threshold") {
                        None => 0.7,
                        Some((_, value)) => match value.parse::<f64>() {
                            Ok(parsed) if parsed > 0.0 && parsed <= 1.0 => parsed,
                            _ => {
                                return Err(fail(
                                    format!("dxo:threshold={value}: expected a probability above 0, at most 1"),
                                    "e.g. dxo:threshold=0.7",
                                ));
                            }
                        },
                    };
                    strategies.dxo = Some(DxoStrategy { threshold, tests: number("tests", 3, 1, 6)? })
                }
                "self-consistency" | "sc" => {
                    strategies.self_consistency =
                        Some(SamplingStrategy { k: number("k", 5, 2, 32)?, temperature: temperature()? })
                }
                _ => {
                    strategies.best_of =
                        Some(SamplingStrategy { k: number("n", 4, 2, 32)?, temperature: temperature()? })
                }
            }
        }
        let deciders =
            [strategies.panel.is_some(), strategies.self_consistency.is_some(), strategies.best_of.is_some()];
        if deciders.iter().filter(|set| **set).count() > 1 {
            return Err(fail(
                "panel, self-consistency and best-of are alternative ways of deciding; at most one may be set".into(),
                "compare them as separate arms of `medsim ablate`",
            ));
        }
        if strategies.dxo.is_some() && strategies != (Strategies { dxo: strategies.dxo, ..Strategies::default() }) {
            return Err(fail(
                "dxo is a doctor of its own and combines with no other strategy".into(),
                "compare it with the others as separate arms of `medsim ablate`",
            ));
        }
        Ok(strategies)
    }

    /// True when nothing is set.
    pub fn is_baseline(&self) -> bool {
        *self == Strategies::default()
    }

    /// Whether the final diagnosis is decided by a vote.
    pub fn votes(&self) -> bool {
        self.panel.is_some() || self.self_consistency.is_some() || self.best_of.is_some()
    }
}

impl fmt::Display for Strategies {
    /// The canonical string, every parameter written out (`baseline` when none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.cot {
            parts.push("cot".to_owned());
        }
        if let Some(memory) = self.memory {
            parts.push(format!("memory:k={}", memory.k));
        }
        if self.reflection {
            parts.push(if self.reflection_unmasked { "reflection:mask=false" } else { "reflection" }.to_owned());
        }
        if let Some(panel) = self.panel {
            parts.push(format!("panel:n={}:rounds={}", panel.n, panel.rounds));
        }
        if let Some(sampling) = self.self_consistency {
            parts.push(format!("self-consistency:k={}:temperature={}", sampling.k, sampling.temperature));
        }
        if let Some(sampling) = self.best_of {
            parts.push(format!("best-of:n={}:temperature={}", sampling.k, sampling.temperature));
        }
        if let Some(dxo) = self.dxo {
            parts.push(format!("dxo:threshold={}:tests={}", dxo.threshold, dxo.tests));
        }
        if parts.is_empty() {
            return f.write_str("baseline");
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses_and_prints_canonically() {
        let parsed = Strategies::parse("cot,memory:k=3,reflection,panel:n=3:rounds=2").unwrap();
        assert!(parsed.cot && parsed.reflection);
        assert_eq!(parsed.memory, Some(MemoryStrategy { k: 3 }));
        assert_eq!(parsed.panel, Some(PanelStrategy { n: 3, rounds: 2 }));
        assert_eq!(parsed.to_string(), "cot,memory:k=3,reflection,panel:n=3:rounds=2");
        assert_eq!(Strategies::parse(&parsed.to_string()).unwrap(), parsed);
        let sc = Strategies::parse("self-consistency:k=5").unwrap();
        assert_eq!(sc.to_string(), "self-consistency:k=5:temperature=0.7");
        assert!(Strategies::parse("").unwrap().is_baseline());
        assert_eq!(Strategies::parse("baseline").unwrap().to_string(), "baseline");
        assert_eq!(Strategies::parse("memory").unwrap().memory, Some(MemoryStrategy { k: 3 }));
        let open = Strategies::parse("memory,reflection:mask=false").unwrap();
        assert!(open.reflection && open.reflection_unmasked);
        assert_eq!(open.to_string(), "memory:k=3,reflection:mask=false");
        assert!(Strategies::parse("reflection:mask=maybe").is_err());
    }

    #[test]
    fn the_orchestrator_stands_alone() {
        let dxo = Strategies::parse("dxo").unwrap();
        assert_eq!(dxo.dxo, Some(DxoStrategy { threshold: 0.7, tests: 3 }));
        assert_eq!(dxo.to_string(), "dxo:threshold=0.7:tests=3");
        assert_eq!(Strategies::parse(&dxo.to_string()).unwrap(), dxo);
        assert!(!dxo.votes() && !dxo.is_baseline());
        let error = Strategies::parse("dxo,panel").unwrap_err();
        assert!(error.message.contains("combines with no other strategy"), "{error}");
        assert!(Strategies::parse("dxo:threshold=1.5").unwrap_err().message.contains("probability"));
        assert!(Strategies::parse("dxo:tests=0").is_err());
    }

    #[test]
    fn mistakes_are_named() {
        let error = Strategies::parse("cot,memroy").unwrap_err();
        assert!(error.message.contains("unknown strategy \"memroy\""), "{error}");
        assert!(error.to_string().contains("hint: strategies are cot"), "{error}");
        let error = Strategies::parse("memory:k=0").unwrap_err();
        assert!(error.message.contains("from 1 to 32"), "{error}");
        let error = Strategies::parse("panel:size=3").unwrap_err();
        assert!(error.message.contains("no parameter \"size\""), "{error}");
        let error = Strategies::parse("panel,self-consistency").unwrap_err();
        assert!(error.message.contains("at most one"), "{error}");
        let error = Strategies::parse("memory:k").unwrap_err();
        assert!(error.message.contains("key=value"), "{error}");
    }
}
