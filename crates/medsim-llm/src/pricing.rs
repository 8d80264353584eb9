//! Prices per million input and output tokens, so runs can report cost per episode.
//!
//! The built-in table holds list prices of common hosted models (USD, as published by the
//! providers in 2025); users override or extend it in `medsim.toml` under `[prices."MODEL"]`.
//! Models served locally (embedded, vLLM, Ollama …) cost nothing unless a price is given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::Usage;

/// A model's price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per million prompt tokens.
    pub input_per_million: f64,
    /// USD per million completion tokens.
    pub output_per_million: f64,
}

const BUILTIN: &[(&str, f64, f64)] = &[
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("claude-3-haiku", 0.25, 1.25),
];

/// Prices by model name.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> PriceTable {
        PriceTable::builtin()
    }
}

impl PriceTable {
    /// The built-in list prices.
    pub fn builtin() -> PriceTable {
        PriceTable {
            prices: BUILTIN
                .iter()
                .map(|(name, input, output)| {
                    ((*name).to_owned(), Price { input_per_million: *input, output_per_million: *output })
                })
                .collect(),
        }
    }

    /// The built-in prices with these entries added or replaced.
    pub fn with_overrides(mut self, overrides: &BTreeMap<String, Price>) -> PriceTable {
        self.prices.extend(overrides.iter().map(|(name, price)| (name.clone(), *price)));
        self
    }

    /// The price of `provider/model` or `model`: an exact entry, else the longest entry that
    /// the model name starts with (`gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`).
    pub fn price(&self, name: &str) -> Option<Price> {
        if let Some(price) = self.prices.get(name) {
            return Some(*price);
        }
        let model = name.split_once('/').map(|(_, model)| model).unwrap_or(name);
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices
            .iter()
            .filter(|(key, _)| model.starts_with(key.as_str()) || name.starts_with(key.as_str()))
            .max_by_key(|(key, _)| key.len())
            .map(|(_, price)| *price)
    }

    /// Cost in USD of this usage, when the model has a price.
    pub fn cost(&self, name: &str, usage: Usage) -> Option<f64> {
        self.price(name).map(|price| {
            usage.prompt_tokens as f64 * price.input_per_million / 1e6
                + usage.completion_tokens as f64 * price.output_per_million / 1e6
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_exact_then_longest_prefix() {
        let table = PriceTable::builtin();
        assert_eq!(table.price("openai/gpt-4o-mini-2024-07-18").unwrap().input_per_million, 0.15);
        assert_eq!(table.price("gpt-4o-2024-08-06").unwrap().input_per_million, 2.50);
        assert!(table.price("vllm/meta-llama/Llama-3.3-70B-Instruct").is_none());
        let usage = Usage { prompt_tokens: 1_000_000, completion_tokens: 500_000 };
        assert!((table.cost("openai/gpt-4o-mini", usage).unwrap() - 0.45).abs() < 1e-9);
    }

    #[test]
    fn overrides_win() {
        let mut overrides = BTreeMap::new();
        overrides.insert("gpt-4o-mini".to_owned(), Price { input_per_million: 1.0, output_per_million: 2.0 });
        overrides.insert("vllm/llama".to_owned(), Price { input_per_million: 0.1, output_per_million: 0.1 });
        let table = PriceTable::builtin().with_overrides(&overrides);
        assert_eq!(table.price("openai/gpt-4o-mini").unwrap().input_per_million, 1.0);
        assert_eq!(table.price("vllm/llama").unwrap().output_per_million, 0.1);
    }
}
