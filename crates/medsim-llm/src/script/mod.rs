//! The scripted server's script: which reply a request gets, and which faults and latency it
//! suffers on the way.
//!
//! A script is YAML (or JSON). Rules are tried in order; the first whose `when` matches answers.
//! See `docs/scripted-server.md` for the format with examples.
//!
//! ```yaml
//! seed: 7
//! latency: { mean_ms: 200, jitter_ms: 20, distribution: uniform }
//! faults: { rate_limit: 0.1, retry_after_ms: 50, server_error: 0.05, hang: 0.01 }
//! rules:
//!   - when: { role: doctor }
//!     replies: ["What brings you in?", "REQUEST TEST: CBC", "DIAGNOSIS READY: Anemia"]
//!   - when: { last: "(?i)how are you" }
//!     reply: "Fine, thanks."
//!   - when: { role: judge }
//!     reply: { json: { correct: true } }
//! default: { echo: true }
//! ```

pub mod server;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rng::SplitMix64;

/// A whole script.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// Seed for latency and fault draws.
    pub seed: u64,
    /// Model name reported in answers (default: the requested model).
    pub model: Option<String>,
    /// Added latency.
    pub latency: Latency,
    /// Injected faults.
    pub faults: Faults,
    /// Rules, tried in order.
    pub rules: Vec<Rule>,
    /// The reply when no rule matches (default: echo the last message).
    pub default: Option<Reply>,
    /// Keep no request in memory (`GET /_script/requests` is then empty): for long benchmarks,
    /// whose memory must not grow with the number of calls.
    pub forget_requests: bool,
}

/// How added latency is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Always `mean_ms`.
    #[default]
    Fixed,
    /// Uniform in `mean_ms ± jitter_ms`.
    Uniform,
    /// Normal with mean `mean_ms` and standard deviation `jitter_ms` (never negative).
    Normal,
}

/// Added latency.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Mean in milliseconds.
    pub mean_ms: f64,
    /// Spread in milliseconds.
    pub jitter_ms: f64,
    /// Shape.
    pub distribution: Distribution,
}

impl Latency {
    /// One draw, in milliseconds.
    pub fn draw(&self, rng: &mut SplitMix64) -> f64 {
        let value = match self.distribution {
            Distribution::Fixed => self.mean_ms,
            Distribution::Uniform => self.mean_ms + self.jitter_ms * (2.0 * rng.next_f64() - 1.0),
            Distribution::Normal => self.mean_ms + self.jitter_ms * rng.next_normal(),
        };
        value.max(0.0)
    }
}

/// Fault rates (each a probability per request; they are exclusive and drawn once per request).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// 429 Too Many Requests with a Retry-After header.
    pub rate_limit: f64,
    /// The Retry-After sent with a 429, in milliseconds (sent as `retry-after-ms` and, rounded
    /// up, as `Retry-After` seconds).
    pub retry_after_ms: u64,
    /// 500 Internal Server Error.
    pub server_error: f64,
    /// 503 Service Unavailable.
    pub unavailable: f64,
    /// No answer for `hang_ms` (past any sensible client timeout), then a normal answer.
    pub hang: f64,
    /// How long a hang lasts, in milliseconds.
    pub hang_ms: u64,
    /// 200 with a body that is not JSON.
    pub malformed_json: f64,
    /// 200 with an empty reply.
    pub empty_content: f64,
    /// 200 whose body stops half-way and the connection closes.
    pub truncated: f64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            rate_limit: 0.0,
            retry_after_ms: 1000,
            server_error: 0.0,
            unavailable: 0.0,
            hang: 0.0,
            hang_ms: 120_000,
            malformed_json: 0.0,
            empty_content: 0.0,
            truncated: 0.0,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 429.
    RateLimit,
    /// 500.
    ServerError,
    /// 503.
    Unavailable,
    /// Hang.
    Hang,
    /// Not JSON.
    MalformedJson,
    /// Empty reply.
    EmptyContent,
    /// Cut body.
    Truncated,
}

impl Faults {
    /// Draws this request's fault, if any.
    pub fn draw(&self, rng: &mut SplitMix64) -> Option<Fault> {
        let draw = rng.next_f64();
        let table = [
            (self.rate_limit, Fault::RateLimit),
            (self.server_error, Fault::ServerError),
            (self.unavailable, Fault::Unavailable),
            (self.hang, Fault::Hang),
            (self.malformed_json, Fault::MalformedJson),
            (self.empty_content, Fault::EmptyContent),
            (self.truncated, Fault::Truncated),
        ];
        let mut cumulative = 0.0;
        for (rate, fault) in table {
            cumulative += rate.max(0.0);
            if draw < cumulative {
                return Some(fault);
            }
        }
        None
    }
}

/// When a rule applies. Every given condition must hold; regexes search anywhere in the text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Matcher {
    /// The caller's role (the `x-medsim-role` header), exactly.
    pub role: Option<String>,
    /// Regex on the system prompt.
    pub system: Option<String>,
    /// Regex on the last message's text.
    pub last: Option<String>,
    /// Regex on any message's text.
    pub any: Option<String>,
    /// The requested model, exactly.
    pub model: Option<String>,
    /// `openai` or `anthropic`.
    pub api: Option<String>,
    /// True when the request offers tools; false when it does not.
    pub tools: Option<bool>,
}

/// Which position in `replies` a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceIndex {
    /// The number of assistant messages already in the conversation: each conversation walks
    /// the sequence on its own, so concurrent conversations do not disturb each other.
    #[default]
    Turn,
    /// A counter shared by every request this rule answers.
    Call,
}

/// A rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    /// A name for logs.
    pub name: Option<String>,
    /// Conditions.
    pub when: Matcher,
    /// One reply.
    pub reply: Option<Reply>,
    /// A sequence of replies; past its end the last one repeats (or, with `cycle`, it restarts).
    pub replies: Vec<Reply>,
    /// How the sequence position is chosen.
    pub index: SequenceIndex,
    /// Restart the sequence after its end.
    pub cycle: bool,
    /// A regex whose first capture group, found in the system prompt or any message, gives the
    /// sequence position (e.g. `"You have asked (\\d+) questions"` for prompts that state the turn).
    pub turn_from: Option<String>,
}

/// A reply: a plain string, or an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// Text (rendered as a template when it contains `{{`).
    Text(String),
    /// Anything richer.
    Full(ReplySpec),
}

/// A structured reply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplySpec {
    /// Text (a template when it contains `{{`).
    pub text: Option<String>,
    /// A JSON value sent as the text (for JSON-mode requests).
    pub json: Option<Value>,
    /// Tool calls.
    pub tool_calls: Vec<ToolCallSpec>,
    /// Reply with the last message's text.
    pub echo: bool,
    /// Finish reason to report (`stop`, `length` …).
    pub finish_reason: Option<String>,
    /// Answer with this HTTP error status instead (400–599), the text as the error message.
    pub status: Option<u16>,
}

/// A scripted tool call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallSpec {
    /// Function name.
    pub name: String,
    /// Arguments.
    #[serde(default)]
    pub arguments: Value,
}

/// A request as the script sees it, whichever API it came through.
#[derive(Debug, Clone, Default)]
pub struct ScriptRequest {
    /// `openai` or `anthropic`.
    pub api: &'static str,
    /// Requested model.
    pub model: String,
    /// The caller's role header.
    pub role: Option<String>,
    /// System prompt(s), joined.
    pub system: String,
    /// (role, text) of every non-system message.
    pub messages: Vec<(String, String)>,
    /// Whether tools are offered.
    pub has_tools: bool,
    /// Choices requested.
    pub n: u32,
}

impl ScriptRequest {
    fn last_text(&self) -> &str {
        self.messages.last().map(|(_, text)| text.as_str()).unwrap_or_default()
    }

    fn turn(&self) -> usize {
        self.messages.iter().filter(|(role, _)| role == "assistant").count()
    }
}

/// What the script decided to answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// Text.
    pub text: String,
    /// Tool calls: (name, arguments).
    pub tool_calls: Vec<(String, Value)>,
    /// JSON reply (also rendered into `text`).
    pub json: Option<Value>,
    /// Finish reason.
    pub finish_reason: Option<String>,
    /// An HTTP error status to answer with instead.
    pub status: Option<u16>,
    /// Rule that answered (index), if any.
    pub rule: Option<usize>,
}

/// Why a script is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Not valid YAML/JSON or not the script format.
    #[error("{origin}: {message}\n  hint: see docs/scripted-server.md for the script format")]
    Parse {
        /// File.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A regex does not compile.
    #[error("{origin}: rules[{rule}].when.{field}: invalid regex: {message}")]
    Regex {
        /// File.
        origin: String,
        /// Rule index.
        rule: usize,
        /// Field.
        field: &'static str,
        /// Why.
        message: String,
    },
}

struct CompiledRule {
    rule: Rule,
    turn_from: Option<Regex>,
    system: Option<Regex>,
    last: Option<Regex>,
    any: Option<Regex>,
    calls: std::sync::atomic::AtomicU64,
}

/// A script ready to answer requests.
pub struct CompiledScript {
    /// The script as written.
    pub script: Script,
    rules: Vec<CompiledRule>,
}

impl CompiledScript {
    /// Parses YAML or JSON text.
    pub fn parse(text: &str, origin: &str) -> Result<CompiledScript, ScriptError> {
        let script: Script = serde_yaml_ng::from_str(text)
            .map_err(|error| ScriptError::Parse { origin: origin.to_owned(), message: error.to_string() })?;
        CompiledScript::compile(script, origin)
    }

    /// Compiles the regexes of a script.
    pub fn compile(script: Script, origin: &str) -> Result<CompiledScript, ScriptError> {
        let mut rules = Vec::with_capacity(script.rules.len());
        for (index, rule) in script.rules.iter().enumerate() {
            let compile = |pattern: &Option<String>, field: &'static str| {
                pattern.as_deref().map(Regex::new).transpose().map_err(|error| ScriptError::Regex {
                    origin: origin.to_owned(),
                    rule: index,
                    field,
                    message: error.to_string(),
                })
            };
            rules.push(CompiledRule {
                system: compile(&rule.when.system, "system")?,
                last: compile(&rule.when.last, "last")?,
                any: compile(&rule.when.any, "any")?,
                turn_from: compile(&rule.turn_from, "turn_from")?,
                rule: rule.clone(),
                calls: std::sync::atomic::AtomicU64::new(0),
            });
        }
        Ok(CompiledScript { script, rules })
    }

    /// The answer to a request.
    pub fn answer(&self, request: &ScriptRequest) -> Answer {
        for (index, compiled) in self.rules.iter().enumerate() {
            if !compiled.matches(request) {
                continue;
            }
            let call = compiled.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as usize;
            let rule = &compiled.rule;
            let reply = if rule.replies.is_empty() {
                rule.reply.clone()
            } else {
                let position = match (&compiled.turn_from, rule.index) {
                    (Some(regex), _) => std::iter::once(request.system.as_str())
                        .chain(request.messages.iter().map(|(_, text)| text.as_str()))
                        .find_map(|text| regex.captures(text)?.get(1)?.as_str().parse().ok())
                        .unwrap_or(0),
                    (None, SequenceIndex::Turn) => request.turn(),
                    (None, SequenceIndex::Call) => call,
                };
                let length = rule.replies.len();
                let position = if rule.cycle { position % length } else { position.min(length - 1) };
                Some(rule.replies[position].clone())
            };
            let mut answer = render(reply.as_ref(), request, call);
            answer.rule = Some(index);
            return answer;
        }
        render(self.script.default.as_ref(), request, 0)
    }
}

impl CompiledRule {
    fn matches(&self, request: &ScriptRequest) -> bool {
        let when = &self.rule.when;
        when.role.as_ref().is_none_or(|role| request.role.as_ref() == Some(role))
            && when.model.as_ref().is_none_or(|model| *model == request.model)
            && when.api.as_ref().is_none_or(|api| api == request.api)
            && when.tools.is_none_or(|tools| tools == request.has_tools)
            && self.system.as_ref().is_none_or(|regex| regex.is_match(&request.system))
            && self.last.as_ref().is_none_or(|regex| regex.is_match(request.last_text()))
            && self.any.as_ref().is_none_or(|regex| request.messages.iter().any(|(_, text)| regex.is_match(text)))
    }
}

fn render(reply: Option<&Reply>, request: &ScriptRequest, call: usize) -> Answer {
    let spec = match reply {
        None => ReplySpec { echo: true, ..ReplySpec::default() },
        Some(Reply::Text(text)) => ReplySpec { text: Some(text.clone()), ..ReplySpec::default() },
        Some(Reply::Full(spec)) => spec.clone(),
    };
    let mut text = match (&spec.json, &spec.text) {
        (Some(json), _) => json.to_string(),
        (None, Some(text)) => template(text, request, call),
        (None, None) if spec.echo => request.last_text().to_owned(),
        (None, None) => String::new(),
    };
    if spec.echo && spec.text.is_some() {
        text = format!("{text}{}", request.last_text());
    }
    Answer {
        text,
        tool_calls: spec.tool_calls.iter().map(|call| (call.name.clone(), call.arguments.clone())).collect(),
        json: spec.json.clone(),
        finish_reason: spec.finish_reason.clone(),
        status: spec.status,
        rule: None,
    }
}

fn template(text: &str, request: &ScriptRequest, call: usize) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let environment = minijinja::Environment::new();
    let context = minijinja::context! {
        last => request.last_text(),
        system => request.system,
        role => request.role,
        model => request.model,
        turn => request.turn(),
        call => call,
        messages => request.messages.len(),
    };
    environment.render_str(text, context).unwrap_or_else(|error| format!("[template error: {error}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(role: &str, messages: &[(&str, &str)]) -> ScriptRequest {
        ScriptRequest {
            api: "openai",
            model: "m".into(),
            role: Some(role.into()),
            system: "You are a doctor.".into(),
            messages: messages.iter().map(|(role, text)| ((*role).to_owned(), (*text).to_owned())).collect(),
            has_tools: false,
            n: 1,
        }
    }

    #[test]
    fn rules_sequences_templates_and_echo() {
        let script = CompiledScript::parse(
            r#"
rules:
  - when: { role: doctor }
    replies: ["first", "second"]
  - when: { last: "(?i)^hello" }
    reply: "Hi {{ role }}, you said {{ last }}"
  - when: { role: judge }
    reply: { json: { correct: true } }
default: { echo: true }
"#,
            "test.yaml",
        )
        .unwrap();
        assert_eq!(script.answer(&request("doctor", &[("user", "x")])).text, "first");
        assert_eq!(
            script.answer(&request("doctor", &[("user", "x"), ("assistant", "first"), ("user", "y")])).text,
            "second"
        );
        let past_end = request("doctor", &[("assistant", "a"), ("assistant", "b"), ("assistant", "c")]);
        assert_eq!(script.answer(&past_end).text, "second");
        assert_eq!(
            script.answer(&request("patient", &[("user", "Hello there")])).text,
            "Hi patient, you said Hello there"
        );
        assert_eq!(script.answer(&request("judge", &[("user", "?")])).text, r#"{"correct":true}"#);
        assert_eq!(script.answer(&request("other", &[("user", "echo me")])).text, "echo me");
    }

    #[test]
    fn fault_draws_follow_the_rates() {
        let faults = Faults { rate_limit: 0.1, server_error: 0.1, truncated: 0.1, ..Faults::default() };
        let mut rng = SplitMix64::new(1);
        let draws: Vec<Option<Fault>> = (0..10_000).map(|_| faults.draw(&mut rng)).collect();
        let faulty = draws.iter().filter(|fault| fault.is_some()).count();
        assert!((2_700..3_300).contains(&faulty), "{faulty}");
        assert!(draws.contains(&Some(Fault::Truncated)));
    }

    #[test]
    fn bad_scripts_are_explained() {
        let error = CompiledScript::parse("rules:\n  - when: { last: \"(\" }\n", "s.yaml").err().unwrap();
        assert!(error.to_string().contains("rules[0].when.last: invalid regex"), "{error}");
        let error = CompiledScript::parse("rulez: []\n", "s.yaml").err().unwrap();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }
}
