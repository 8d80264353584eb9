//! Ordered trees of named results: physical-examination findings, test results and structured
//! patient facts.
//!
//! Source files nest results freely (`Test_Results.Lumbar_Puncture.CSF_Protein`), mix strings,
//! lists and objects for the same field, and sometimes hold an empty object. The tree keeps the
//! source's order and every value verbatim, so nothing is lost and a clinician-facing path such as
//! `tests.Complete_Blood_Count.WBC` can always be named.

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// One node of a result tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// A textual result, the common case: `"Present (elevated)"`.
    Text(String),
    /// A list of results, e.g. `Secondary_Symptoms` or `Special_Tests`.
    List(Vec<Finding>),
    /// A named group of results, possibly empty.
    Group(Findings),
    /// A number, boolean or null, kept exactly as the source had it.
    Other(Value),
}

/// An ordered list of named results. Keys keep the source's order; duplicates are impossible in
/// valid JSON but are kept rather than silently merged if a writer produces them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Findings(pub Vec<(String, Finding)>);

/// One leaf of a tree with the names leading to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf<'a> {
    /// Names from the root to this leaf; list items contribute no name.
    pub path: Vec<&'a str>,
    /// The leaf's text (numbers and booleans rendered as JSON).
    pub text: Cow<'a, str>,
}

impl Leaf<'_> {
    /// The path joined with dots, e.g. `Blood_Tests.Acetylcholine_Receptor_Antibodies`.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

impl Finding {
    /// Builds a node from any JSON value; never fails.
    pub fn from_value(value: Value) -> Finding {
        match value {
            Value::String(text) => Finding::Text(text),
            Value::Array(items) => Finding::List(items.into_iter().map(Finding::from_value).collect()),
            Value::Object(map) => Finding::Group(Findings(
                map.into_iter().map(|(key, value)| (key, Finding::from_value(value))).collect(),
            )),
            other => Finding::Other(other),
        }
    }

    /// The node as a JSON value (the inverse of [`Finding::from_value`]).
    pub fn to_value(&self) -> Value {
        match self {
            Finding::Text(text) => Value::String(text.clone()),
            Finding::List(items) => Value::Array(items.iter().map(Finding::to_value).collect()),
            Finding::Group(group) => group.to_value(),
            Finding::Other(value) => value.clone(),
        }
    }

    fn collect_leaves<'a>(&'a self, path: &mut Vec<&'a str>, out: &mut Vec<Leaf<'a>>) {
        match self {
            Finding::Text(text) => out.push(Leaf { path: path.clone(), text: Cow::Borrowed(text) }),
            Finding::Other(value) => out.push(Leaf { path: path.clone(), text: Cow::Owned(value.to_string()) }),
            Finding::List(items) => {
                for item in items {
                    item.collect_leaves(path, out);
                }
            }
            Finding::Group(group) => group.collect_leaves(path, out),
        }
    }

    /// Renders the node as indented plain text, the way it is shown to people and agents.
    pub fn render(&self, indent: usize, out: &mut String) {
        match self {
            Finding::Text(text) => out.push_str(text),
            Finding::Other(value) => out.push_str(&value.to_string()),
            Finding::List(items) => {
                let all_text = items.iter().all(|item| matches!(item, Finding::Text(_) | Finding::Other(_)));
                if all_text {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|item| {
                            let mut s = String::new();
                            item.render(0, &mut s);
                            s
                        })
                        .collect();
                    out.push_str(&parts.join("; "));
                } else {
                    for item in items {
                        out.push('\n');
                        out.push_str(&"  ".repeat(indent));
                        out.push_str("- ");
                        item.render(indent + 1, out);
                    }
                }
            }
            Finding::Group(group) => {
                if group.is_empty() {
                    out.push_str("(none recorded)");
                } else {
                    for (name, child) in &group.0 {
                        out.push('\n');
                        out.push_str(&"  ".repeat(indent));
                        out.push_str(&display_name(name));
                        out.push(':');
                        let mut rendered = String::new();
                        child.render(indent + 1, &mut rendered);
                        if !rendered.starts_with('\n') {
                            out.push(' ');
                        }
                        out.push_str(&rendered);
                    }
                }
            }
        }
    }
}

/// `Complete_Blood_Count` → `Complete Blood Count`: the names as a person reads them.
pub fn display_name(name: &str) -> String {
    name.replace('_', " ")
}

impl Findings {
    /// An empty tree.
    pub fn new() -> Findings {
        Findings(Vec::new())
    }

    /// Builds a tree from a JSON object; other values become a single entry named `name`.
    pub fn from_value_named(value: Value, name: &str) -> Findings {
        match Finding::from_value(value) {
            Finding::Group(group) => group,
            Finding::Other(Value::Null) => Findings::new(),
            other => Findings(vec![(name.to_owned(), other)]),
        }
    }

    /// True when the tree holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry with this exact name at the top level.
    pub fn get(&self, name: &str) -> Option<&Finding> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// Every leaf, in order, with its path.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        let mut out = Vec::new();
        self.collect_leaves(&mut Vec::new(), &mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, path: &mut Vec<&'a str>, out: &mut Vec<Leaf<'a>>) {
        for (name, child) in &self.0 {
            path.push(name);
            child.collect_leaves(path, out);
            path.pop();
        }
    }

    /// The tree as a JSON object, keys in order.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.iter().map(|(key, value)| (key.clone(), value.to_value())).collect())
    }

    /// Indented plain text, one named result per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        Finding::Group(self.clone()).render(0, &mut out);
        out.trim_start_matches('\n').to_owned()
    }
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Finding::Text(text) => serializer.serialize_str(text),
            Finding::Other(value) => value.serialize(serializer),
            Finding::Group(group) => group.serialize(serializer),
            Finding::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for Findings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl schemars::JsonSchema for Findings {
    fn schema_name() -> Cow<'static, str> {
        "Findings".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let node = generator.subschema_for::<Finding>();
        schemars::json_schema!({
            "description": "An ordered tree of named results: keys are result names (e.g. Complete_Blood_Count), values are text, lists or nested groups.",
            "type": "object",
            "additionalProperties": node,
        })
    }
}

impl schemars::JsonSchema for Finding {
    fn schema_name() -> Cow<'static, str> {
        "Finding".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let this = generator.subschema_for::<Finding>();
        schemars::json_schema!({
            "description": "A result: text, a number/boolean/null kept verbatim, a list of results, or a group of named results.",
            "anyOf": [
                { "type": "string" },
                { "type": ["number", "boolean", "null"] },
                { "type": "array", "items": this },
                { "type": "object", "additionalProperties": this }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_round_trips_every_shape_in_order() {
        let value = json!({
            "Vital_Signs": {"Temperature": "36.6°C", "Heart_Rate": "72 bpm"},
            "Special_Tests": ["Lachman positive", "McMurray negative"],
            "Empty": {},
            "Flag": true,
            "Count": 3
        });
        let tree = Findings::from_value_named(value.clone(), "Findings");
        assert_eq!(tree.to_value(), value);
        let names: Vec<&str> = tree.0.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["Vital_Signs", "Special_Tests", "Empty", "Flag", "Count"]);
        assert_eq!(serde_json::to_value(&tree).unwrap(), value);
    }

    #[test]
    fn leaves_carry_their_paths() {
        let tree = Findings::from_value_named(
            json!({"Blood": {"CBC": {"WBC": "11"}}, "List": ["a", {"Inner": "b"}], "N": 1.5}),
            "x",
        );
        let leaves: Vec<(String, String)> =
            tree.leaves().iter().map(|leaf| (leaf.dotted(), leaf.text.to_string())).collect();
        assert_eq!(
            leaves,
            [
                ("Blood.CBC.WBC".to_owned(), "11".to_owned()),
                ("List".to_owned(), "a".to_owned()),
                ("List.Inner".to_owned(), "b".to_owned()),
                ("N".to_owned(), "1.5".to_owned()),
            ]
        );
    }

    #[test]
    fn a_plain_string_becomes_one_named_entry() {
        let tree = Findings::from_value_named(json!("Normal."), "Findings");
        assert_eq!(tree.0, vec![("Findings".to_owned(), Finding::Text("Normal.".into()))]);
        assert!(Findings::from_value_named(Value::Null, "x").is_empty());
    }

    #[test]
    fn render_is_readable() {
        let tree = Findings::from_value_named(
            json!({"Vital_Signs": {"Heart_Rate": "72 bpm"}, "Symptoms": ["a", "b"], "Empty": {}}),
            "x",
        );
        assert_eq!(tree.render(), "Vital Signs:\n  Heart Rate: 72 bpm\nSymptoms: a; b\nEmpty: (none recorded)");
    }
}
