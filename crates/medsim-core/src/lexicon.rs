//! The clinical lexicon (`lexicon/clinical.yaml`): the names clinicians give tests, and what kind
//! of test each name is — a concept (analyte, panel, vital sign, other test), a fluid, an imaging
//! modality, a body region, an examination system.
//!
//! [`Lexicon::facets`] reads any text (a request such as "CT of the abdomen with contrast", or a
//! stored result's name such as `Urinalysis.Glucose`) into [`Facets`]; the measurement agent
//! matches requests to stored results through them, with modality, region, fluid and system as
//! hard constraints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

const LEXICON_YAML: &str = include_str!("../lexicon/clinical.yaml");

/// What a phrase says about a test.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    /// A body fluid (blood, urine, csf …).
    Fluid(String),
    /// An imaging modality.
    Modality(String),
    /// A body region.
    Region(String),
    /// An examination system.
    System(String),
    /// A part of an examination (auscultation, reflexes, fundoscopy …).
    Part(String),
    /// A concept: `panel:cbc`, `analyte:hemoglobin`, `vital:blood pressure`.
    Concept(String),
}

#[derive(Debug, Deserialize)]
struct RegionEntry {
    names: Vec<String>,
    #[serde(default, rename = "in")]
    within: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConceptEntry {
    id: String,
    names: Vec<String>,
    #[serde(default)]
    panels: Vec<String>,
    #[serde(default)]
    fluid: Option<String>,
    /// A panel any one member of which answers a request for it (biopsy, serology).
    #[serde(default)]
    generic: bool,
}

#[derive(Debug, Deserialize)]
struct LexiconFile {
    fluids: BTreeMap<String, Vec<String>>,
    modalities: BTreeMap<String, Vec<String>>,
    regions: BTreeMap<String, RegionEntry>,
    systems: BTreeMap<String, Vec<String>>,
    exam_parts: BTreeMap<String, Vec<String>>,
    vitals: Vec<ConceptEntry>,
    panels: Vec<ConceptEntry>,
    analytes: Vec<ConceptEntry>,
    #[serde(default)]
    diagnoses: Vec<Vec<String>>,
}

/// The lexicon, loaded once.
#[derive(Debug)]
pub struct Lexicon {
    phrases: HashMap<String, Vec<Tag>>,
    longest: usize,
    region_parent: HashMap<String, String>,
    /// Concept id → display name (its first name).
    display: HashMap<String, String>,
    /// Analyte concept → the panel concepts it belongs to.
    panels_of: HashMap<String, Vec<String>>,
    /// Concept → the fluid it is measured in unless the text says otherwise.
    default_fluid: HashMap<String, String>,
    /// Panels any one member of which answers a request for them.
    generic: BTreeSet<String>,
    /// Groups of names for one disease.
    diagnoses: Vec<Vec<String>>,
    /// Test names offered for autocompletion, sorted.
    test_names: Vec<String>,
}

/// What a text names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Concepts named (`panel:cbc`, `analyte:glucose`, `vital:heart rate`).
    pub concepts: BTreeSet<String>,
    /// Fluids named explicitly.
    pub fluids: BTreeSet<String>,
    /// Imaging modalities named.
    pub modalities: BTreeSet<String>,
    /// Body regions named.
    pub regions: BTreeSet<String>,
    /// Examination systems named.
    pub systems: BTreeSet<String>,
    /// Examination parts named.
    pub parts: BTreeSet<String>,
    /// Words no phrase of the lexicon covered (generic words dropped).
    pub words: Vec<String>,
}

impl Facets {
    /// True when nothing was recognised and no word is left.
    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
            && self.fluids.is_empty()
            && self.modalities.is_empty()
            && self.regions.is_empty()
            && self.systems.is_empty()
            && self.parts.is_empty()
            && self.words.is_empty()
    }

    /// Adds what `other` says, for context (a parent's name).
    pub fn absorb_context(&mut self, other: &Facets) {
        self.fluids.extend(other.fluids.iter().cloned());
        self.modalities.extend(other.modalities.iter().cloned());
        self.regions.extend(other.regions.iter().cloned());
        self.systems.extend(other.systems.iter().cloned());
        self.parts.extend(other.parts.iter().cloned());
    }
}

/// Words that say nothing about which test is meant.
pub const GENERIC: &[&str] = &[
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
    "ordered",
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
    "without",
    "to",
    "scan",
    "scans",
    "imaging",
    "patient",
    "s",
    "workup",
    "work",
    "up",
    "examination",
    "exam",
    "screening",
    "screen",
    "panel",
    "profile",
    "repeat",
    "stat",
    "urgent",
    "obtain",
    "get",
    "perform",
    "performed",
    "show",
    "showed",
    "shows",
    "look",
    "looking",
    "rule",
    "out",
    "r",
    "o",
    "r o",
    "assess",
    "evaluate",
    "contrast",
    "non",
    "noncontrast",
    "iv",
    "oral",
    "view",
    "views",
    "pa",
    "ap",
    "lateral",
    "baseline",
    "serial",
    "full",
    "complete",
    "routine",
    "detailed",
    "focused",
    "bilateral",
    "left",
    "right",
    "both",
    "any",
    "signs",
    "sign",
    "possible",
    "suspected",
    "concern",
    "due",
    "from",
    "by",
    "at",
    "or",
    "if",
    "as",
    "is",
    "was",
    "were",
    "be",
    "including",
    "include",
    "also",
    "then",
    "quantitative",
    "qualitative",
    "titer",
    "titre",
    "titers",
    "count",
    "counts",
    "number",
    "type",
    "total",
    "measure",
    "measured",
    "status",
    "function",
    "tests",
    "obtained",
    "other",
    "additional",
    "further",
    "well",
    "general",
    "specific",
    "investigation",
    "investigations",
    "labs",
    "lab",
    "laboratory",
    "work-up",
];

/// Lower-case words: letters and digits, everything else a separator.
pub fn words(text: &str) -> Vec<String> {
    // Split camel case ("ChestCT" → "chest ct") only after a run of three lower-case letters,
    // so abbreviations keep their letters together ("HbA1c", "AChR", "pCO2").
    let mut spaced = String::with_capacity(text.len() + 8);
    let mut lower_run = 0;
    for character in text.chars() {
        if character.is_uppercase() && lower_run >= 3 {
            spaced.push(' ');
        }
        lower_run = if character.is_lowercase() { lower_run + 1 } else { 0 };
        spaced.push(character);
    }
    let lowered = spaced.to_lowercase();
    lowered
        .split(|c: char| !c.is_alphanumeric() && c != '+')
        .filter(|word| !word.is_empty())
        .map(|word| word.trim_matches('+').to_owned())
        .filter(|word| !word.is_empty())
        .collect()
}

fn normal_phrase(text: &str) -> String {
    words(text).join(" ")
}

impl Lexicon {
    /// The built-in lexicon.
    pub fn get() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        LEXICON.get_or_init(|| Lexicon::parse(LEXICON_YAML).expect("the built-in lexicon is valid (checked by tests)"))
    }

    /// Parses a lexicon file.
    pub fn parse(text: &str) -> Result<Lexicon, String> {
        let file: LexiconFile = serde_yaml_ng::from_str(text).map_err(|error| error.to_string())?;
        let mut phrases: HashMap<String, Vec<Tag>> = HashMap::new();
        let mut add = |name: &str, tag: Tag| {
            let phrase = normal_phrase(name);
            if phrase.is_empty() {
                return;
            }
            let tags = phrases.entry(phrase).or_default();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        };
        for (fluid, names) in file.fluids.iter().filter(|(fluid, _)| *fluid != "any") {
            for name in names.iter().chain(std::iter::once(fluid)) {
                add(name, Tag::Fluid(fluid.clone()));
            }
        }
        for (modality, names) in &file.modalities {
            for name in names {
                add(name, Tag::Modality(modality.clone()));
            }
        }
        let mut region_parent = HashMap::new();
        for (region, entry) in &file.regions {
            for name in entry.names.iter().chain(std::iter::once(region)) {
                add(name, Tag::Region(region.clone()));
            }
            if let Some(parent) = &entry.within {
                if !file.regions.contains_key(parent) {
                    return Err(format!("region {region}: `in: {parent}` names no region"));
                }
                region_parent.insert(region.clone(), parent.clone());
            }
        }
        for (system, names) in &file.systems {
            for name in names {
                add(name, Tag::System(system.clone()));
            }
        }
        for (part, names) in &file.exam_parts {
            for name in names {
                add(name, Tag::Part(part.clone()));
            }
        }
        let mut display = HashMap::new();
        let mut panels_of = HashMap::new();
        let mut default_fluid = HashMap::new();
        let mut generic = BTreeSet::new();
        let panel_ids: BTreeSet<&String> = file.panels.iter().map(|panel| &panel.id).collect();
        for (kind, entries) in [("vital", &file.vitals), ("panel", &file.panels), ("analyte", &file.analytes)] {
            for entry in entries {
                let id = format!("{kind}:{}", entry.id);
                for name in &entry.names {
                    add(name, Tag::Concept(id.clone()));
                }
                display.insert(id.clone(), entry.names.first().cloned().unwrap_or_else(|| entry.id.clone()));
                if entry.generic {
                    generic.insert(id.clone());
                }
                for panel in &entry.panels {
                    if !panel_ids.contains(panel) {
                        return Err(format!("{id}: panel {panel} is not defined"));
                    }
                }
                if !entry.panels.is_empty() {
                    panels_of.insert(id.clone(), entry.panels.iter().map(|panel| format!("panel:{panel}")).collect());
                }
                if let Some(fluid) = &entry.fluid {
                    if !file.fluids.contains_key(fluid) {
                        return Err(format!("{id}: fluid {fluid} is not defined"));
                    }
                    if fluid != "any" {
                        default_fluid.insert(id.clone(), fluid.clone());
                    }
                } else if kind == "analyte" {
                    default_fluid.insert(id.clone(), "blood".to_owned());
                }
            }
        }
        // A panel measured in one fluid (urinalysis, CSF analysis) says so.
        for (panel, fluid) in [
            ("panel:urinalysis", "urine"),
            ("panel:csf analysis", "csf"),
            ("panel:pleural fluid analysis", "pleural"),
            ("panel:synovial fluid analysis", "synovial"),
            ("panel:ascitic fluid analysis", "ascitic"),
            ("panel:stool studies", "stool"),
        ] {
            default_fluid.insert(panel.to_owned(), fluid.to_owned());
        }
        let longest = phrases.keys().map(|phrase| phrase.split(' ').count()).max().unwrap_or(1);
        let mut test_names: Vec<String> = display
            .iter()
            .filter(|(concept, _)| !concept.starts_with("vital:"))
            .map(|(_, name)| name.clone())
            .collect();
        test_names.sort_by_key(|name| name.to_lowercase());
        test_names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(Lexicon {
            test_names,
            phrases,
            longest,
            region_parent,
            display,
            panels_of,
            default_fluid,
            generic,
            diagnoses: file.diagnoses,
        })
    }

    /// The display name of a concept.
    pub fn display(&self, concept: &str) -> String {
        self.display
            .get(concept)
            .cloned()
            .unwrap_or_else(|| concept.split(':').next_back().unwrap_or(concept).to_owned())
    }

    /// Test names to offer a person ordering tests (autocompletion): every concept's display
    /// name but vital signs', sorted, without repeats (made once, with the lexicon).
    pub fn test_names(&self) -> &[String] {
        &self.test_names
    }

    /// The panels an analyte belongs to.
    pub fn panels_of(&self, concept: &str) -> &[String] {
        self.panels_of.get(concept).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Groups of names for one disease (abbreviations, eponyms, synonyms).
    pub fn diagnosis_groups(&self) -> &[Vec<String>] {
        &self.diagnoses
    }

    /// True for a panel any one member of which answers a request for it.
    pub fn is_generic(&self, panel: &str) -> bool {
        self.generic.contains(panel)
    }

    /// The fluid a concept is measured in unless the text says otherwise.
    pub fn default_fluid(&self, concept: &str) -> Option<&str> {
        self.default_fluid.get(concept).map(String::as_str)
    }

    /// True when one region is the other or lies within it (in either direction).
    pub fn regions_overlap(&self, left: &str, right: &str) -> bool {
        self.within(left, right) || self.within(right, left)
    }

    fn within(&self, inner: &str, outer: &str) -> bool {
        let mut current = Some(inner);
        while let Some(region) = current {
            if region == outer {
                return true;
            }
            current = self.region_parent.get(region).map(String::as_str);
        }
        false
    }

    /// Every tag of an exact phrase (tests and tools).
    pub fn tags(&self, phrase: &str) -> &[Tag] {
        self.phrases.get(&normal_phrase(phrase)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Reads a text: the longest lexicon phrases first, left to right.
    pub fn facets(&self, text: &str) -> Facets {
        let words = words(text);
        let mut facets = Facets::default();
        let mut index = 0;
        'outer: while index < words.len() {
            for length in (1..=self.longest.min(words.len() - index)).rev() {
                let phrase = words[index..index + length].join(" ");
                if let Some(tags) = self.phrases.get(&phrase) {
                    // A fluid word inside a longer name still says the fluid ("serum glucose").
                    if length > 1 {
                        for word in &words[index..index + length] {
                            for tag in self.phrases.get(word).map(Vec::as_slice).unwrap_or(&[]) {
                                if let Tag::Fluid(fluid) = tag {
                                    facets.fluids.insert(fluid.clone());
                                }
                            }
                        }
                    }
                    for tag in tags {
                        match tag {
                            Tag::Fluid(fluid) => facets.fluids.insert(fluid.clone()),
                            Tag::Modality(modality) => facets.modalities.insert(modality.clone()),
                            Tag::Region(region) => facets.regions.insert(region.clone()),
                            Tag::System(system) => facets.systems.insert(system.clone()),
                            Tag::Part(part) => facets.parts.insert(part.clone()),
                            Tag::Concept(concept) => facets.concepts.insert(concept.clone()),
                        };
                    }
                    index += length;
                    continue 'outer;
                }
            }
            let word = &words[index];
            if !GENERIC.contains(&word.as_str()) {
                facets.words.push(crate::matching::tokens(word).into_iter().next().unwrap_or_else(|| word.clone()));
            }
            index += 1;
        }
        // An echocardiogram is of the heart.
        if facets.modalities.contains("echo") {
            facets.regions.insert("heart".to_owned());
        }
        facets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_lexicon_loads_and_names_are_unique_per_kind() {
        let lexicon = Lexicon::get();
        assert!(lexicon.phrases.len() > 900, "{}", lexicon.phrases.len());
        // A phrase naming two concepts would make a request ambiguous.
        for (phrase, tags) in &lexicon.phrases {
            let concepts = tags.iter().filter(|tag| matches!(tag, Tag::Concept(_))).count();
            assert!(concepts <= 1, "{phrase:?} names {tags:?}");
        }
    }

    #[test]
    fn requests_read_as_modality_region_fluid_and_concept() {
        let lexicon = Lexicon::get();
        let mri = lexicon.facets("MRI brain with contrast");
        assert_eq!(mri.modalities, BTreeSet::from(["mri".to_owned()]));
        assert_eq!(mri.regions, BTreeSet::from(["head".to_owned()]));
        let ct = lexicon.facets("CT of the abdomen with contrast to look for obstruction");
        assert!(ct.modalities.contains("ct") && ct.regions.contains("abdomen"), "{ct:?}");
        assert_eq!(lexicon.facets("Hb").concepts, BTreeSet::from(["analyte:hemoglobin".to_owned()]));
        assert_eq!(lexicon.facets("AChR antibody").concepts, BTreeSet::from(["analyte:achr antibodies".to_owned()]));
        let urine = lexicon.facets("Urinalysis.Glucose");
        assert!(urine.fluids.contains("urine") && urine.concepts.contains("analyte:glucose"), "{urine:?}");
        let glucose = lexicon.facets("blood glucose");
        assert!(
            glucose.concepts.contains("analyte:glucose") && lexicon.default_fluid("analyte:glucose") == Some("blood")
        );
        assert_eq!(lexicon.facets("lung auscultation").systems, BTreeSet::from(["respiratory".to_owned()]));
        assert_eq!(lexicon.facets("Bowel_Sounds").systems, BTreeSet::from(["abdominal".to_owned()]));
        assert!(lexicon.regions_overlap("liver", "abdomen") && !lexicon.regions_overlap("head", "spine"));
        assert!(lexicon.facets("MRI_Lumbar_Spine").regions.contains("lumbar spine"));
    }
}
