//! Python's `repr()` of JSON-like values. AgentClinic pastes case dictionaries into prompts with
//! `str.format`, so its prompts hold Python reprs (`{'Key': 'value'}`), not JSON; the strict
//! parity mode must reproduce them byte for byte.

use serde_json::Value;

/// `repr(value)` as Python 3 prints it.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(integer), _) => out.push_str(&integer.to_string()),
            (None, Some(float)) => out.push_str(&float_repr(float)),
            _ => out.push_str(&number.to_string()),
        },
        Value::String(text) => out.push_str(&string_repr(text)),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                out.push_str(&string_repr(key));
                out.push_str(": ");
                write(item, out);
            }
            out.push('}');
        }
    }
}

fn float_repr(float: f64) -> String {
    if float.fract() == 0.0 && float.abs() < 1e16 { format!("{float:.1}") } else { format!("{float}") }
}

/// `repr(str)`: single quotes unless the text has a `'` and no `"`.
pub fn string_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            '\u{a0}' | '\u{ad}' => out.push_str(&format!("\\x{:02x}", character as u32)),
            '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", character as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python() {
        let value = json!({"A": "it's", "B": ["x", true, null, 1, 1.5], "C": {}, "D": "say \"hi\" it's"});
        assert_eq!(repr(&value), r#"{'A': "it's", 'B': ['x', True, None, 1, 1.5], 'C': {}, 'D': 'say "hi" it\'s'}"#);
        assert_eq!(string_repr("36.6°C\n"), "'36.6°C\\n'");
    }
}
