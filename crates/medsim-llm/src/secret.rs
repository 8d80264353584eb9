//! API keys: held in a type that never prints its value, and scrubbed from anything a server
//! sends back before it reaches an error message.

use std::fmt;

/// An API key. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(value: impl Into<String>) -> ApiKey {
        ApiKey(value.into())
    }

    /// The key itself, for building a request header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key (and of long fragments of it) in `text`.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Removes `secret` from `text`, and also any 8-character window of it (servers echo
/// fragments such as `sk-abc1***wxyz`).
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.len() < 4 {
        return text.to_owned();
    }
    let mut out = text.replace(secret, "[redacted]");
    let characters: Vec<char> = secret.chars().collect();
    if characters.len() > 8 {
        for window in characters.windows(8) {
            let fragment: String = window.iter().collect();
            if out.contains(&fragment) {
                out = out.replace(&fragment, "[redacted]");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_scrubs_fragments() {
        let key = ApiKey::new("sk-test-0123456789abcdef");
        assert_eq!(format!("{key:?} {key}"), "ApiKey([redacted]) [redacted]");
        let scrubbed = key.scrub("bad key sk-test-0123456789abcdef; fragment ***456789abcd***");
        assert_eq!(scrubbed, "bad key [redacted]; fragment ***[redacted]cd***");
    }
}
