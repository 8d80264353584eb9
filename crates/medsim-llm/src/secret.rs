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

/// The forms in which a server may echo a secret inside a longer text: base64 (standard and
/// URL-safe alphabets, at each of the three byte alignments, only the characters that the
/// secret alone determines) and percent-encoding. Each is at least 8 characters.
fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    let bytes = secret.as_bytes();
    let mut forms = Vec::new();
    for alignment in 0..3usize {
        let mut padded = vec![0u8; alignment];
        padded.extend_from_slice(bytes);
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&padded);
        let first = (alignment * 8).div_ceil(6);
        let last = ((alignment + bytes.len()) * 8) / 6;
        if last > first && last - first >= 8 {
            let stable = &encoded[first..last];
            forms.push(stable.to_owned());
            forms.push(stable.replace('+', "-").replace('/', "_"));
        }
    }
    let percent: String = bytes
        .iter()
        .map(|&byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    if percent != secret {
        forms.push(percent);
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Replaces every occurrence of `needle` in `text`, ignoring ASCII case when `fold` is set.
fn replace_all(text: &str, needle: &str, fold: bool) -> String {
    if needle.is_empty() {
        return text.to_owned();
    }
    let (haystack, needle) = if fold {
        (text.to_ascii_lowercase(), needle.to_ascii_lowercase())
    } else {
        (text.to_owned(), needle.to_owned())
    };
    if !haystack.contains(&needle) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    // ASCII case folding keeps byte offsets, so positions found in the folded text are valid
    // (and on character boundaries) in the original.
    while let Some(found) = haystack[position..].find(&needle) {
        let start = position + found;
        out.push_str(&text[position..start]);
        out.push_str("[redacted]");
        position = start + needle.len();
    }
    out.push_str(&text[position..]);
    out
}

/// Removes `secret` from `text` — as written, in any letter case, base64-encoded or
/// percent-encoded — and also any 8-character window of it (servers echo fragments such as
/// `sk-abc1***wxyz`).
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.len() < 4 || text.is_empty() {
        return text.to_owned();
    }
    let mut out = replace_all(text, secret, true);
    for form in encoded_forms(secret) {
        // Percent-encoding has hex digits in either case; base64 is case-sensitive.
        let fold = form.contains('%');
        out = replace_all(&out, &form, fold);
    }
    let characters: Vec<char> = secret.chars().collect();
    if characters.len() > 8 {
        for window in characters.windows(8) {
            let fragment: String = window.iter().collect();
            out = replace_all(&out, &fragment, true);
        }
    }
    out
}

/// Scrubs every string inside a JSON value (tool-call arguments).
pub fn scrub_json(value: &mut serde_json::Value, secret: &str) {
    match value {
        serde_json::Value::String(text) => *text = scrub(text, secret),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|item| scrub_json(item, secret)),
        serde_json::Value::Object(map) => {
            let entries: Vec<(String, serde_json::Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut item) in entries {
                scrub_json(&mut item, secret);
                map.insert(scrub(&key, secret), item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_echoed_form_is_scrubbed() {
        use base64::Engine;
        let key = "sk-live-4f9A7c2E8b1D6e3F0a5B";
        let engines = [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE];
        for prefix in ["", "x", "xy", "Bearer ", "{\"key\":\""] {
            for engine in &engines {
                let encoded = engine.encode(format!("{prefix}{key}\" trailing"));
                let scrubbed = scrub(&format!("token={encoded}"), key);
                assert!(scrubbed.contains("[redacted]"), "{prefix:?}: {scrubbed}");
                // What is left cannot be decoded back to the key.
                let rest: String = scrubbed.trim_start_matches("token=").split("[redacted]").collect();
                assert!(rest.len() < encoded.len() / 2, "{prefix:?}: {scrubbed}");
            }
        }
        for echo in [key.to_uppercase(), key.to_lowercase()] {
            let scrubbed = scrub(&format!("you sent {echo}."), key);
            assert!(!scrubbed.to_lowercase().contains("4f9a7c2e"), "{echo}: {scrubbed}");
        }
        let slashed = "ak+Secret/Key=0123";
        assert_eq!(scrub("q=ak%2BSecret%2FKey%3D0123&x", slashed), "q=[redacted]&x");
        assert_eq!(scrub("q=ak%2bsecret%2fkey%3d0123&x", slashed), "q=[redacted]&x");
        let mut arguments = serde_json::json!({"note": ["KEY SK-LIVE-4F9A7C2E8B1D6E3F0A5B"], key: 1});
        scrub_json(&mut arguments, key);
        assert!(!arguments.to_string().to_lowercase().contains("4f9a7c2e"), "{arguments}");
        // Unrelated text is left alone, non-ASCII included.
        assert_eq!(scrub("Ünïcode text — no key here", key), "Ünïcode text — no key here");
    }

    #[test]
    fn never_prints_and_scrubs_fragments() {
        let key = ApiKey::new("sk-test-0123456789abcdef");
        assert_eq!(format!("{key:?} {key}"), "ApiKey([redacted]) [redacted]");
        let scrubbed = key.scrub("bad key sk-test-0123456789abcdef; fragment ***456789abcd***");
        assert_eq!(scrubbed, "bad key [redacted]; fragment ***[redacted]cd***");
    }
}
