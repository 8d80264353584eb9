//! Reading `medsim.toml`: TOML into [`LlmSettings`], then every value checked, each error naming
//! the file, the line and the key, what was expected and what was found.

use crate::config::LlmSettings;

/// Top-level tables the file may have.
pub const KNOWN_TABLES: &[&str] = &["providers", "roles", "retry", "cache", "prices"];

/// A settings file that cannot be used: `origin:line: message`, and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}:{line}: {message}\n  hint: {hint}")]
pub struct SettingsError {
    /// The file.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
    /// What to do.
    pub hint: &'static str,
}

/// Parses and checks a settings file; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<LlmSettings, SettingsError> {
    let error = |line: usize, message: String, hint: &'static str| SettingsError {
        origin: origin.to_owned(),
        line,
        message,
        hint,
    };
    let table: toml::Table = toml::from_str(text).map_err(|toml| {
        error(
            toml_line(text, &toml),
            toml.message().trim().to_owned(),
            "see README \"Settings\" for the format of medsim.toml",
        )
    })?;
    if let Some(unknown) = table.keys().find(|key| !KNOWN_TABLES.contains(&key.as_str())) {
        let line = text.lines().position(|line| line.contains(unknown.as_str())).map(|index| index + 1).unwrap_or(1);
        return Err(error(
            line,
            format!("{unknown}: expected one of {}, found an unknown table", KNOWN_TABLES.join(", ")),
            "check the spelling; see README \"Settings\"",
        ));
    }
    let settings = toml::from_str::<LlmSettings>(text).map_err(|toml| {
        error(
            toml_line(text, &toml),
            toml.message().trim().to_owned(),
            "see README \"Settings\" for the format of medsim.toml",
        )
    })?;
    settings.validate().map_err(|invalid| {
        error(
            line_of(text, &invalid.path),
            format!("{}: {}", invalid.path.join("."), invalid.message),
            "see README \"Settings\" for the ranges medsim accepts",
        )
    })?;
    Ok(settings)
}

fn toml_line(text: &str, error: &toml::de::Error) -> usize {
    error
        .span()
        .map(|span| text.as_bytes()[..span.start.min(text.len())].iter().filter(|byte| **byte == b'\n').count() + 1)
        .unwrap_or(1)
}

/// The line where a key is written: after its table's header (`[providers.vllm]`), the first
/// line that assigns it; the header itself, or line 1, when that is not found.
fn line_of(text: &str, path: &[String]) -> usize {
    let (key, table) = path.split_last().map(|(key, table)| (key.as_str(), table)).unwrap_or(("", &[]));
    let header = |line: &str| {
        let inner = line.trim().strip_prefix('[').and_then(|rest| rest.strip_suffix(']'))?;
        Some(inner.split('.').map(|part| part.trim().trim_matches('"').to_owned()).collect::<Vec<_>>())
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = if table.is_empty() {
        Some(0)
    } else {
        lines.iter().position(|line| header(line).is_some_and(|parts| parts == table)).map(|index| index + 1)
    };
    let Some(start) = start else { return 1 };
    for (index, line) in lines.iter().enumerate().skip(start) {
        if header(line).is_some() && !table.is_empty() {
            break;
        }
        let assigned = line.trim_start().strip_prefix(key).map(|rest| rest.trim_start().starts_with('='));
        if assigned == Some(true) {
            return index + 1;
        }
    }
    start.max(1)
}
