//! The JSON Schema of medsim's own case format, generated from the [`Case`] type so the two
//! cannot drift apart (a test compares it with `schemas/case.schema.json`).

use crate::case::{CASE_FORMAT_VERSION, Case};

/// The JSON Schema of one case record, pretty-printed.
pub fn case_schema_json() -> String {
    let mut schema = schemars::schema_for!(Case);
    schema.insert("$id".to_owned(), format!("urn:medsim:schema:{CASE_FORMAT_VERSION}").into());
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/case.schema.json");
        let current = super::case_schema_json();
        if std::env::var_os("MEDSIM_UPDATE_SCHEMAS").is_some() {
            std::fs::write(path, &current).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == current,
            "schemas/case.schema.json is stale: run `MEDSIM_UPDATE_SCHEMAS=1 cargo test -p medsim-core schema`"
        );
    }
}
