//! GGUF chat models run in-process with llama.cpp.
//!
//! One worker thread owns the model and one context with several sequence slots. Requests from
//! any number of async callers are queued to it; every step decodes one batch holding the next
//! token of every generating sequence plus a chunk of any prompt still being read, so concurrent
//! requests share the hardware instead of waiting in line. A finished sequence keeps its tokens
//! in the KV cache: the next request whose prompt starts the same way (the next turn of the same
//! conversation) reuses that prefix and only reads the new tokens. Dropping a request's future
//! frees its slot at the next step.
//!
//! JSON-schema and tool requests are decoded under a grammar (GBNF) generated from the schema,
//! so the output always parses.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use medsim_llm::types::{
    Capabilities, ChatRequest, ChatResponse, Choice, FinishReason, Role, ToolCall, ToolChoice, Usage,
};
use medsim_llm::{ChatModel, LlmError};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// Total context (tokens) shared by all sequences.
    pub context_tokens: u32,
    /// Sequences decoded together.
    pub parallel: u32,
    /// Tokens per decode call.
    pub batch_tokens: u32,
    /// CPU threads.
    pub threads: i32,
    /// Chat template to use when the GGUF has none (a llama.cpp built-in name, e.g. `chatml`).
    pub fallback_template: String,
}

impl Default for LlamaConfig {
    fn default() -> LlamaConfig {
        let threads = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(2) as i32;
        LlamaConfig {
            context_tokens: 32_768,
            parallel: 8,
            batch_tokens: 512,
            threads,
            fallback_template: "chatml".to_owned(),
        }
    }
}

fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
            LlamaBackend::init().map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| LlmError::Config(format!("cannot start llama.cpp: {error}")))
}

/// One generation job sent to the worker.
struct Job {
    prompt: String,
    max_tokens: u32,
    temperature: f32,
    top_p: f32,
    seed: u32,
    stop: Vec<String>,
    grammar: Option<String>,
    reply: oneshot::Sender<Result<Generated, LlmError>>,
}

/// What the worker produced for a job.
struct Generated {
    text: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    finish: FinishReason,
}

/// Tokens decoded and time spent, for benchmarks and tests. Time of a batch that mixes prompt
/// and generated tokens is split in proportion to their counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Prompt tokens read.
    pub prompt_tokens: u64,
    /// Milliseconds spent reading prompts.
    pub prompt_ms: f64,
    /// Tokens generated.
    pub generated_tokens: u64,
    /// Milliseconds spent generating.
    pub generation_ms: f64,
}

enum Message {
    Job(Box<Job>),
    Timings(std::sync::mpsc::Sender<Timings>),
}

/// A GGUF chat model served by a worker thread.
pub struct LlamaChatModel {
    name: String,
    sender: mpsc::Sender<Message>,
}

impl LlamaChatModel {
    /// Loads a GGUF file; `name` is what [`ChatModel::name`] reports (`local/…`).
    pub fn load(path: &Path, name: impl Into<String>, config: LlamaConfig) -> Result<LlamaChatModel, LlmError> {
        if !path.is_file() {
            return Err(LlmError::Config(format!(
                "no model file at {}\n  hint: `medsim models pull` installs the default model; any GGUF file works as local/PATH.gguf",
                path.display()
            )));
        }
        let (sender, receiver) = mpsc::channel::<Message>();
        let (ready_sender, ready_receiver) = mpsc::channel::<Result<(), LlmError>>();
        let path: PathBuf = path.to_owned();
        std::thread::Builder::new()
            .name("medsim-llama".into())
            .spawn(move || worker(path, config, receiver, ready_sender))
            .map_err(|error| LlmError::Config(format!("cannot start the model thread: {error}")))?;
        ready_receiver.recv().map_err(|_| LlmError::Config("the model thread stopped while loading".into()))??;
        Ok(LlamaChatModel { name: name.into(), sender })
    }

    /// llama.cpp's counters since the model was loaded.
    pub fn timings(&self) -> Option<Timings> {
        let (sender, receiver) = mpsc::channel();
        self.sender.send(Message::Timings(sender)).ok()?;
        receiver.recv_timeout(Duration::from_secs(60)).ok()
    }

    async fn generate(
        &self,
        job: Job,
        receiver: oneshot::Receiver<Result<Generated, LlmError>>,
    ) -> Result<Generated, LlmError> {
        self.sender
            .send(Message::Job(Box::new(job)))
            .map_err(|_| LlmError::Config("the model thread has stopped".into()))?;
        receiver.await.map_err(|_| LlmError::Config("the model thread dropped the request".into()))?
    }
}

/// The instruction added for tool requests: the model answers with one JSON object.
fn tool_instructions(request: &ChatRequest) -> String {
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| json!({"name": tool.name, "description": tool.description, "arguments": tool.parameters}))
        .collect();
    format!(
        "You can call these tools:\n{}\nAnswer with exactly one JSON object {{\"name\": TOOL NAME, \"arguments\": {{…}}}} and nothing else.",
        serde_json::to_string_pretty(&tools).unwrap_or_default()
    )
}

/// The JSON schema the output must follow, if the request is structured.
fn output_schema(request: &ChatRequest) -> Option<Value> {
    if !request.tools.is_empty() && request.tool_choice != Some(ToolChoice::None) {
        let allowed: Vec<&medsim_llm::ToolDefinition> = match &request.tool_choice {
            Some(ToolChoice::Tool(name)) => request.tools.iter().filter(|tool| &tool.name == name).collect(),
            _ => request.tools.iter().collect(),
        };
        let options: Vec<Value> = allowed
            .iter()
            .map(|tool| {
                json!({
                    "type": "object",
                    "properties": {"name": {"const": tool.name}, "arguments": tool.parameters},
                    "required": ["name", "arguments"],
                    "additionalProperties": false,
                })
            })
            .collect();
        return Some(if options.len() == 1 { options[0].clone() } else { json!({"anyOf": options}) });
    }
    request.response_format.as_ref().map(|format| format.schema.clone())
}

/// Turns a JSON schema into a GBNF grammar.
pub fn schema_grammar(schema: &Value) -> Result<String, LlmError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map_err(|error| LlmError::Unsupported(format!("cannot turn this JSON schema into a grammar: {error}")))
}

#[async_trait]
impl ChatModel for LlamaChatModel {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        if request.messages.iter().any(|message| message.has_image()) {
            return Err(LlmError::Unsupported(format!(
                "{} is a text-only model and cannot read images (check capabilities() before sending them)",
                self.name
            )));
        }
        let schema = output_schema(request);
        let grammar = schema.as_ref().map(schema_grammar).transpose()?;
        let mut messages: Vec<(String, String)> = Vec::new();
        if !request.tools.is_empty() && grammar.is_some() {
            messages.push(("system".into(), tool_instructions(request)));
        } else if let Some(format) = &request.response_format {
            messages.push((
                "system".into(),
                format!("Answer with one JSON object following this schema:\n{}", format.schema),
            ));
        }
        for message in &request.messages {
            let role = match message.role {
                Role::System => "system",
                Role::User | Role::Tool => "user",
                Role::Assistant => "assistant",
            };
            let mut text = message.text();
            for call in &message.tool_calls {
                text.push_str(&json!({"name": call.name, "arguments": call.arguments}).to_string());
            }
            // Templates want one system message first: fold later ones into it.
            match messages.first_mut() {
                Some((first_role, first_text)) if role == "system" && first_role == "system" => {
                    first_text.push_str("\n\n");
                    first_text.push_str(&text);
                }
                _ => messages.push((role.into(), text)),
            }
        }
        let params = &request.params;
        let samples = params.n.unwrap_or(1).max(1);
        let mut choices = Vec::new();
        let mut usage = Usage::default();
        for sample in 0..samples {
            let (reply, receiver) = oneshot::channel();
            let job = Job {
                prompt: render_prompt(&messages),
                max_tokens: params.max_tokens.unwrap_or(512),
                temperature: params.temperature.unwrap_or(0.0) as f32,
                top_p: params.top_p.unwrap_or(1.0) as f32,
                seed: params.seed.unwrap_or(0x5EED) as u32 ^ (sample + request.metadata.sample_index),
                stop: params.stop.clone(),
                grammar: grammar.clone(),
                reply,
            };
            let generated = self.generate(job, receiver).await?;
            usage.prompt_tokens += generated.prompt_tokens;
            usage.completion_tokens += generated.completion_tokens;
            let mut choice = Choice { text: generated.text, tool_calls: Vec::new(), finish_reason: generated.finish };
            if !request.tools.is_empty() && grammar.is_some() {
                let parsed: Value = serde_json::from_str(&choice.text).unwrap_or(Value::Null);
                if let Some(name) = parsed.get("name").and_then(Value::as_str) {
                    choice.tool_calls.push(ToolCall {
                        id: format!("call_local_{sample}"),
                        name: name.to_owned(),
                        arguments: parsed.get("arguments").cloned().unwrap_or(Value::Null),
                    });
                    choice.text.clear();
                    choice.finish_reason = FinishReason::ToolCalls;
                }
            }
            choices.push(choice);
        }
        Ok(ChatResponse {
            choices,
            usage,
            model: self.name.clone(),
            request_id: None,
            latency: started.elapsed(),
            attempts: 1,
            cache_hit: false,
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { images: false, tools: true, json_schema: true, multiple_choices: true }
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// Messages are rendered on the worker (it owns the template); this packs them for the trip.
fn render_prompt(messages: &[(String, String)]) -> String {
    serde_json::to_string(messages).expect("strings serialise")
}

/// State of one sequence slot.
struct Slot {
    seq: i32,
    /// When the slot last started a request (a step counter), for least-recently-used reuse.
    last_used: u64,
    /// Tokens held in the KV cache for this sequence, in order.
    cached: Vec<LlamaToken>,
    active: Option<Active>,
}

struct Active {
    job: Job,
    /// Prompt tokens not yet decoded.
    pending: Vec<LlamaToken>,
    /// The token sampled last, to be decoded in the next batch.
    next: Option<LlamaToken>,
    prompt_tokens: u64,
    sampler: LlamaSampler,
    bytes: Vec<u8>,
    generated: u64,
    /// Batch row whose logits to sample next, once the prompt is read.
    logits_row: Option<i32>,
}

fn worker(
    path: PathBuf,
    config: LlamaConfig,
    receiver: mpsc::Receiver<Message>,
    ready: mpsc::Sender<Result<(), LlmError>>,
) {
    let setup = (|| -> Result<(LlamaModel, LlamaChatTemplate), LlmError> {
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .map_err(|error| LlmError::Config(format!("cannot load {}: {error}", path.display())))?;
        let template = match model.chat_template(None) {
            Ok(template) => template,
            Err(_) => LlamaChatTemplate::new(&config.fallback_template)
                .map_err(|error| LlmError::Config(format!("bad fallback template: {error}")))?,
        };
        Ok((model, template))
    })();
    let (model, template) = match setup {
        Ok(loaded) => loaded,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let Ok(backend) = backend() else { return };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(config.context_tokens))
        .with_n_batch(config.batch_tokens)
        .with_n_ubatch(config.batch_tokens)
        .with_n_seq_max(config.parallel)
        .with_kv_unified(true)
        .with_n_threads(config.threads)
        .with_n_threads_batch(config.threads);
    let mut context = match model.new_context(backend, params) {
        Ok(context) => context,
        Err(error) => {
            let _ = ready.send(Err(LlmError::Config(format!("cannot create a llama.cpp context: {error}"))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut engine = Engine {
        model: &model,
        template,
        config,
        slots: Vec::new(),
        queue: Vec::new(),
        timings: Timings::default(),
        admitted: 0,
    };
    engine.slots = (0..engine.config.parallel as i32)
        .map(|seq| Slot { seq, last_used: 0, cached: Vec::new(), active: None })
        .collect();
    engine.run(&mut context, receiver);
}

struct Engine<'model> {
    model: &'model LlamaModel,
    template: LlamaChatTemplate,
    config: LlamaConfig,
    slots: Vec<Slot>,
    queue: Vec<Job>,
    timings: Timings,
    admitted: u64,
}

impl Engine<'_> {
    fn run(&mut self, context: &mut LlamaContext<'_>, receiver: mpsc::Receiver<Message>) {
        let mut batch = LlamaBatch::new(self.config.batch_tokens as usize, 1);
        loop {
            let busy = self.slots.iter().any(|slot| slot.active.is_some()) || !self.queue.is_empty();
            // Block for work when idle; otherwise take whatever has arrived.
            let incoming = if busy {
                receiver.try_recv().ok()
            } else {
                match receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => return,
                }
            };
            if let Some(message) = incoming {
                match message {
                    Message::Job(job) => self.queue.push(*job),
                    Message::Timings(reply) => {
                        let _ = reply.send(self.timings);
                    }
                }
                continue;
            }
            self.admit(context);
            if let Err(error) = self.step(context, &mut batch) {
                self.fail_all(context, &error);
            }
        }
    }

    /// Moves queued jobs into free slots, reusing the longest cached prefix.
    fn admit(&mut self, context: &mut LlamaContext<'_>) {
        while !self.queue.is_empty() {
            let job = self.queue.remove(0);
            if job.reply.is_closed() {
                continue;
            }
            let tokens = match self.tokenize(&job.prompt) {
                Ok(tokens) => tokens,
                Err(error) => {
                    let _ = job.reply.send(Err(error));
                    continue;
                }
            };
            let limit = self.config.context_tokens as usize / 2;
            if tokens.len() + job.max_tokens as usize > limit {
                let _ = job.reply.send(Err(LlmError::Unsupported(format!(
                    "the prompt has {} tokens; with max_tokens {} it exceeds the {limit} tokens a sequence may use",
                    tokens.len(),
                    job.max_tokens
                ))));
                continue;
            }
            let free: Vec<usize> = (0..self.slots.len()).filter(|index| self.slots[*index].active.is_none()).collect();
            // The longest shared prefix wins; among equals, the least recently used slot, so
            // the caches of conversations in progress survive as long as possible.
            let Some(best) = free.iter().copied().max_by_key(|index| {
                let slot = &self.slots[*index];
                (common_prefix(&slot.cached, &tokens), std::cmp::Reverse(slot.last_used))
            }) else {
                self.queue.insert(0, job);
                return;
            };
            self.admitted += 1;
            let slot = &mut self.slots[best];
            slot.last_used = self.admitted;
            // Keep the shared prefix, but always decode at least one prompt token for logits.
            let keep = common_prefix(&slot.cached, &tokens).min(tokens.len() - 1);
            if context.clear_kv_cache_seq(Some(slot.seq as u32), Some(keep as u32), None).is_err() {
                let _ = context.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
                slot.cached.clear();
            } else {
                slot.cached.truncate(keep);
            }
            let keep = slot.cached.len();
            let sampler = build_sampler(self.model, &job);
            let sampler = match sampler {
                Ok(sampler) => sampler,
                Err(error) => {
                    let _ = job.reply.send(Err(error));
                    continue;
                }
            };
            slot.active = Some(Active {
                pending: tokens[keep..].to_vec(),
                next: None,
                prompt_tokens: tokens.len() as u64,
                job,
                sampler,
                bytes: Vec::new(),
                generated: 0,
                logits_row: None,
            });
        }
    }

    fn tokenize(&self, packed: &str) -> Result<Vec<LlamaToken>, LlmError> {
        let messages: Vec<(String, String)> = serde_json::from_str(packed).unwrap_or_default();
        let chat: Vec<LlamaChatMessage> = messages
            .into_iter()
            .map(|(role, content)| LlamaChatMessage::new(role, content.replace('\0', "")))
            .collect::<Result<_, _>>()
            .map_err(|error| LlmError::Unsupported(format!("bad message: {error}")))?;
        let prompt = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|error| LlmError::Unsupported(format!("cannot apply the chat template: {error}")))?;
        Ok(self.model.vocab().tokenize(prompt.as_bytes(), false, true))
    }

    /// One decode: the next token of every generating slot, then prompt chunks.
    fn step(&mut self, context: &mut LlamaContext<'_>, batch: &mut LlamaBatch) -> Result<(), String> {
        // Drop slots whose caller went away.
        for slot in &mut self.slots {
            if slot.active.as_ref().is_some_and(|active| active.job.reply.is_closed()) {
                slot.active = None;
            }
        }
        batch.clear();
        let capacity = self.config.batch_tokens as i32;
        let mut generated_in_batch = 0u64;
        let mut prompt_in_batch = 0u64;
        // First the next token of every generating sequence …
        for slot in &mut self.slots {
            let Some(active) = slot.active.as_mut() else { continue };
            let Some(token) = active.next.take() else { continue };
            active.logits_row = Some(batch.n_tokens());
            batch.add(token, slot.cached.len() as i32, &[slot.seq], true).map_err(|error| error.to_string())?;
            slot.cached.push(token);
            generated_in_batch += 1;
        }
        // … then prompt chunks. A prompt's last token is always decoded in a later batch of
        // its own (with other sequences' tokens at most): its logits are then computed the
        // same way whether or not the prefix came from the cache, so a seeded request gives
        // the same answer on a cold or a warm cache.
        for slot in &mut self.slots {
            let Some(active) = slot.active.as_mut() else { continue };
            if active.pending.is_empty() || batch.n_tokens() >= capacity {
                continue;
            }
            let room = (capacity - batch.n_tokens()) as usize;
            let take = if active.pending.len() > 1 { (active.pending.len() - 1).min(room) } else { 1 };
            let chunk: Vec<LlamaToken> = active.pending.drain(..take).collect();
            let last_of_prompt = active.pending.is_empty();
            for (offset, token) in chunk.iter().enumerate() {
                let is_last = last_of_prompt && offset + 1 == chunk.len();
                if is_last {
                    active.logits_row = Some(batch.n_tokens());
                }
                batch.add(*token, slot.cached.len() as i32, &[slot.seq], is_last).map_err(|error| error.to_string())?;
                slot.cached.push(*token);
                prompt_in_batch += 1;
            }
        }
        if batch.n_tokens() == 0 {
            return Ok(());
        }
        let started = Instant::now();
        context.decode(batch).map_err(|error| format!("llama.cpp decode failed: {error}"))?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let total = (generated_in_batch + prompt_in_batch) as f64;
        self.timings.prompt_tokens += prompt_in_batch;
        self.timings.prompt_ms += elapsed * prompt_in_batch as f64 / total;
        self.timings.generated_tokens += generated_in_batch;
        self.timings.generation_ms += elapsed * generated_in_batch as f64 / total;

        // Sample every slot whose logits are ready; feed the sampled tokens in the next batch.
        let mut next: Vec<(usize, LlamaToken)> = Vec::new();
        let vocab = self.model.vocab();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(active) = slot.active.as_mut() else { continue };
            let Some(row) = active.logits_row.take() else { continue };
            let token = active.sampler.sample(context, row);
            let mut finish = None;
            if vocab.is_eog(token) {
                finish = Some(FinishReason::Stop);
            } else {
                vocab.token_to_piece_into(token, &mut active.bytes, false, None);
                active.generated += 1;
                if let Some(cut) = stop_position(&active.bytes, &active.job.stop) {
                    active.bytes.truncate(cut);
                    finish = Some(FinishReason::Stop);
                } else if active.generated >= u64::from(active.job.max_tokens) {
                    finish = Some(FinishReason::Length);
                }
            }
            match finish {
                Some(finish) => {
                    let active = slot.active.take().expect("active");
                    let text = String::from_utf8_lossy(&active.bytes).into_owned();
                    let _ = active.job.reply.send(Ok(Generated {
                        text,
                        prompt_tokens: active.prompt_tokens,
                        completion_tokens: active.generated,
                        finish,
                    }));
                }
                None => next.push((index, token)),
            }
        }
        for (index, token) in next {
            if let Some(active) = self.slots[index].active.as_mut() {
                active.next = Some(token);
            }
        }
        Ok(())
    }

    fn fail_all(&mut self, context: &mut LlamaContext<'_>, error: &str) {
        context.clear_kv_cache();
        for slot in &mut self.slots {
            slot.cached.clear();
            if let Some(active) = slot.active.take() {
                let _ = active.job.reply.send(Err(LlmError::Config(error.to_owned())));
            }
        }
    }
}

fn common_prefix(left: &[LlamaToken], right: &[LlamaToken]) -> usize {
    left.iter().zip(right).take_while(|(a, b)| a == b).count()
}

/// Where to cut the output at the first stop string, if one has appeared.
fn stop_position(bytes: &[u8], stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| bytes.windows(stop.len()).position(|window| window == stop.as_bytes()))
        .min()
}

fn build_sampler(model: &LlamaModel, job: &Job) -> Result<LlamaSampler, LlmError> {
    let mut chain = Vec::new();
    if let Some(grammar) = &job.grammar {
        chain.push(
            LlamaSampler::grammar(model, grammar, "root")
                .map_err(|error| LlmError::Unsupported(format!("invalid grammar: {error}")))?,
        );
    }
    if job.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.push(LlamaSampler::top_k(40));
        chain.push(LlamaSampler::top_p(job.top_p, 1));
        chain.push(LlamaSampler::temp(job.temperature));
        chain.push(LlamaSampler::dist(job.seed));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_cut_at_the_earliest() {
        assert_eq!(stop_position(b"hello STOP world END", &["END".into(), "STOP".into()]), Some(6));
        assert_eq!(stop_position(b"hello", &["".into(), "x".into()]), None);
    }

    #[test]
    fn tool_requests_become_one_schema() {
        let mut request = ChatRequest::new(vec![]);
        request.tools = vec![
            medsim_llm::ToolDefinition {
                name: "ask".into(),
                description: "".into(),
                parameters: json!({"type": "object"}),
            },
            medsim_llm::ToolDefinition {
                name: "diagnose".into(),
                description: "".into(),
                parameters: json!({"type": "object"}),
            },
        ];
        let schema = output_schema(&request).unwrap();
        assert_eq!(schema["anyOf"].as_array().unwrap().len(), 2);
        request.tool_choice = Some(ToolChoice::Tool("diagnose".into()));
        assert_eq!(output_schema(&request).unwrap()["properties"]["name"]["const"], "diagnose");
    }
}
