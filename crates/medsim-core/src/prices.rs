//! What a consultation and each ordered test cost. A test is priced by what the doctor ordered,
//! read through the clinical lexicon (a panel, an analyte, an imaging modality and region), not
//! by what the case happens to store: ordering an absent test still costs. Anything the table
//! does not list is priced by its category and marked estimated.
//!
//! The table is TOML (`data/prices.toml`, compiled in; `--prices FILE` adds to or overrides it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lexicon::Lexicon;

/// The built-in table's text.
pub const BUILTIN: &str = include_str!("../data/prices.toml");

/// A price table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Currency, year and where the prices come from.
    pub meta: Meta,
    /// The consultation itself.
    pub visit: Visit,
    /// Prices of unlisted items by category: analyte, panel, imaging, examination, vital, other.
    pub category: BTreeMap<String, f64>,
    /// Prices by lexicon concept (`panel:cbc`, `analyte:troponin`).
    #[serde(default)]
    pub concepts: BTreeMap<String, f64>,
    /// Prices by imaging modality, or `modality:region`.
    #[serde(default)]
    pub imaging: BTreeMap<String, f64>,
}

/// Where a table's prices come from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// ISO currency code.
    pub currency: String,
    /// The year the prices are of.
    pub year: u32,
    /// Their source.
    pub source: String,
}

/// The consultation's own price.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// Price of one consultation.
    pub price: f64,
}

/// One ordered test, priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PricedTest {
    /// The test as the doctor ordered it.
    pub test: String,
    /// What priced it: a concept, `modality:region`, a modality, or `category:NAME`.
    pub item: String,
    /// analyte, panel, imaging, examination, vital or other.
    pub category: String,
    /// The price.
    pub price: f64,
    /// True when the table does not list it and its category's price was used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

const CATEGORIES: [&str; 6] = ["analyte", "panel", "imaging", "examination", "vital", "other"];

impl PriceTable {
    /// The built-in table (parsed once per process).
    pub fn builtin() -> PriceTable {
        static TABLE: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
        TABLE
            .get_or_init(|| PriceTable::parse(BUILTIN, "built-in prices").expect("the built-in price table parses"))
            .clone()
    }

    /// Parses a table; an error names the file, the line and the field.
    pub fn parse(text: &str, origin: &str) -> Result<PriceTable, String> {
        let table: PriceTable = toml::from_str(text).map_err(|error| {
            let line = error.span().map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let at = line.map(|line| format!(":{line}")).unwrap_or_default();
            format!(
                "{origin}{at}: {}\n  hint: see the built-in table (medsim-core/data/prices.toml) for the format",
                error.message()
            )
        })?;
        table.check(text, origin)?;
        Ok(table)
    }

    /// Prices must be numbers ≥ 0 and every category must be priced.
    fn check(&self, text: &str, origin: &str) -> Result<(), String> {
        let line_of = |key: &str| {
            text.lines()
                .position(|line| line.trim_start().trim_start_matches('"').starts_with(key))
                .map(|index| format!(":{}", index + 1))
                .unwrap_or_default()
        };
        let entries = std::iter::once(("visit.price".to_owned(), "price".to_owned(), self.visit.price))
            .chain(self.category.iter().map(|(key, price)| (format!("category.{key}"), key.clone(), *price)))
            .chain(self.concepts.iter().map(|(key, price)| (format!("concepts.{key:?}"), key.clone(), *price)))
            .chain(self.imaging.iter().map(|(key, price)| (format!("imaging.{key:?}"), key.clone(), *price)));
        for (field, key, price) in entries {
            if !price.is_finite() || price < 0.0 {
                return Err(format!(
                    "{origin}{}: {field}: expected a price of 0 or more, found {price}",
                    line_of(&key)
                ));
            }
        }
        for category in CATEGORIES {
            if !self.category.contains_key(category) {
                return Err(format!(
                    "{origin}: category.{category}: missing; every category needs a price ({})",
                    CATEGORIES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// This table with `other`'s entries added or replacing its own.
    pub fn merged(mut self, other: PriceTable) -> PriceTable {
        self.meta = other.meta;
        self.visit = other.visit;
        self.category.extend(other.category);
        self.concepts.extend(other.concepts);
        self.imaging.extend(other.imaging);
        self
    }

    /// The table as a short price list for a doctor's prompt (`--show-prices`): the visit, the
    /// listed tests by a readable name, and what an unlisted test of each category costs.
    pub fn listing(&self) -> String {
        let currency = if self.meta.currency == "USD" { "$".to_owned() } else { format!("{} ", self.meta.currency) };
        // Concepts by their name without the kind (`panel:cbc` → `cbc`).
        let readable = |key: &str| key.split_once(':').map_or(key, |(_, name)| name).to_owned();
        let mut lines = vec![format!(
            "Prices ({} {}; {}): the visit {currency}{:.0}.",
            self.meta.currency, self.meta.year, self.meta.source, self.visit.price
        )];
        let listed: Vec<String> = self
            .concepts
            .iter()
            .map(|(key, price)| format!("{} {currency}{price:.0}", readable(key)))
            .chain(self.imaging.iter().map(|(key, price)| {
                let name = match key.split_once(':') {
                    Some((modality, region)) => format!("{} {region}", readable_modality(modality)),
                    None => readable_modality(key),
                };
                format!("{name} {currency}{price:.0}")
            }))
            .collect();
        lines.push(format!("Tests: {}.", listed.join(", ")));
        let unlisted: Vec<String> = CATEGORIES
            .iter()
            .filter_map(|category| self.category.get(*category).map(|price| format!("{category} {currency}{price:.0}")))
            .collect();
        lines.push(format!("Anything else, by kind: {}.", unlisted.join(", ")));
        lines.join("\n")
    }

    fn category_price(&self, test: &str, category: &str) -> PricedTest {
        PricedTest {
            test: test.to_owned(),
            item: format!("category:{category}"),
            category: category.to_owned(),
            price: self.category.get(category).copied().unwrap_or(0.0),
            estimated: !matches!(category, "examination" | "vital"),
        }
    }

    /// The price of one ordered test.
    pub fn price(&self, test: &str) -> PricedTest {
        let facets = Lexicon::get().facets(test);
        let listed = |item: String, category: &str, price: f64| PricedTest {
            test: test.to_owned(),
            item,
            category: category.to_owned(),
            price,
            estimated: false,
        };
        if let Some(modality) = facets.modalities.iter().next() {
            for region in &facets.regions {
                let key = format!("{modality}:{region}");
                if let Some(price) = self.imaging.get(&key) {
                    return listed(key, "imaging", *price);
                }
            }
            return match self.imaging.get(modality) {
                Some(price) => listed(modality.clone(), "imaging", *price),
                None => self.category_price(test, "imaging"),
            };
        }
        if let Some(concept) = facets.concepts.iter().next() {
            let category = match concept.split(':').next() {
                Some("panel") => "panel",
                Some("vital") => "vital",
                _ => "analyte",
            };
            return match self.concepts.get(concept) {
                Some(price) => listed(concept.clone(), category, *price),
                None => self.category_price(test, category),
            };
        }
        if !facets.systems.is_empty() || !facets.parts.is_empty() || test.to_lowercase().contains("exam") {
            return self.category_price(test, "examination");
        }
        self.category_price(test, "other")
    }
}

fn readable_modality(modality: &str) -> String {
    match modality {
        "xray" => "X-ray".to_owned(),
        "ct" => "CT".to_owned(),
        "mri" => "MRI".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_names_the_visit_tests_and_unlisted_kinds() {
        let listing = PriceTable::builtin().listing();
        assert!(listing.starts_with("Prices (USD 2025;"), "{listing}");
        assert!(listing.contains("the visit $130."), "{listing}");
        assert!(listing.contains("cbc $8") && listing.contains("CT head $110"), "{listing}");
        assert!(listing.contains("Anything else, by kind: analyte $15"), "{listing}");
    }

    #[test]
    fn tests_are_priced_by_what_was_ordered() {
        let table = PriceTable::builtin();
        assert_eq!(table.meta.currency, "USD");
        let cbc = table.price("Complete blood count");
        assert_eq!((cbc.item.as_str(), cbc.price, cbc.estimated), ("panel:cbc", 8.0, false));
        assert_eq!(table.price("CT head").item, "ct:head");
        assert_eq!(table.price("CT of the abdomen and pelvis").price, 300.0);
        let mri = table.price("MRI of the knee");
        assert_eq!((mri.item.as_str(), mri.category.as_str()), ("mri", "imaging"));
        assert_eq!(table.price("Physical examination").price, 0.0);
        assert_eq!(table.price("Heart rate").category, "vital");
        let unknown = table.price("Zebra agglutination assay");
        assert!(unknown.estimated && unknown.item.starts_with("category:"), "{unknown:?}");
    }

    #[test]
    fn bad_tables_name_the_line_and_field() {
        let error = PriceTable::parse("[meta]\ncurrency = \"USD\"\nyear = \"soon\"\n", "p.toml").unwrap_err();
        assert!(error.starts_with("p.toml:3:"), "{error}");
        let negative = BUILTIN.replace("\"panel:cbc\" = 8", "\"panel:cbc\" = -8");
        let error = PriceTable::parse(&negative, "p.toml").unwrap_err();
        assert!(error.contains("concepts.\"panel:cbc\": expected a price of 0 or more, found -8"), "{error}");
        let line = BUILTIN.lines().position(|line| line.contains("\"panel:cbc\"")).unwrap() + 1;
        assert!(error.starts_with(&format!("p.toml:{line}:")), "{error}");
        let missing = BUILTIN.replace("other = 60\n", "");
        assert!(PriceTable::parse(&missing, "p.toml").unwrap_err().contains("category.other: missing"));
    }
}
