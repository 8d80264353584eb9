//! Episodes with model actors served by the scripted server.

use std::sync::Arc;

use medsim_agents::prompts::PromptSet;
use medsim_agents::{
    GroundedMeasurementActor, Judge, ModelDoctor, ModelPatient, ModelSeat, Protocol, Rendering, patient_facts,
};
use medsim_core::builtin::builtin;
use medsim_core::case::Case;
use medsim_core::matching;
use medsim_core::measure::GroundedMeasurement;
use medsim_core::transcript::{EventKind, RoleName, StopReason, VerdictMethod};
use medsim_engine::{Actors, Episode, EpisodeConfig, ImagePolicy, Routing, case_images, run_episode};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::script::server::{RecordedRequest, ServerHandle, start};
use medsim_llm::transport::RetryPolicy;
use medsim_llm::{LlmSettings, ModelFactory};

pub fn case(id: &str) -> Case {
    builtin().case(id).unwrap().clone()
}

pub async fn serve(script: &str) -> ServerHandle {
    start(CompiledScript::parse(script, "episode-test").unwrap(), "127.0.0.1:0".parse().unwrap(), None).await.unwrap()
}

pub fn factory(base: &str) -> ModelFactory {
    let mut settings = LlmSettings {
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff_secs: 0.001,
            max_backoff_secs: 0.01,
            ..RetryPolicy::default()
        },
        ..LlmSettings::default()
    };
    settings.providers.insert(
        "scripted".into(),
        ProviderSettings { base_url: Some(base.to_owned()), timeout_secs: Some(5.0), ..ProviderSettings::default() },
    );
    ModelFactory::with_environment(settings, |_| None)
}

fn actors(base: &str, case: &Case, routing: Routing, protocol: Protocol) -> Actors {
    let factory = factory(base);
    let prompts = Arc::new(PromptSet::embedded());
    let prices = Arc::new(medsim_llm::pricing::PriceTable::builtin());
    let seat = |role| ModelSeat::new(factory.model("scripted/model").unwrap(), role, prices.clone());
    let rendering = if routing == Routing::Strict { Rendering::AgentClinic } else { Rendering::Readable };
    Actors {
        doctor: Arc::new(ModelDoctor { seat: seat(RoleName::Doctor), prompts: prompts.clone(), bias: None, protocol }),
        patient: Arc::new(ModelPatient {
            seat: seat(RoleName::Patient),
            prompts: prompts.clone(),
            bias: None,
            facts: patient_facts(case, rendering),
            carer_note: routing == Routing::Tolerant,
        }),
        measurement: Arc::new(GroundedMeasurementActor { grounded: GroundedMeasurement::new(case) }),
        judge: Arc::new(Judge {
            seat: Some(seat(RoleName::Judge)),
            prompts,
            ground_truth: case.diagnosis.clone(),
            aliases: case.diagnosis_aliases.clone(),
            options: case.options.iter().map(|option| (option.text.clone(), option.correct)).collect(),
            strict: routing == Routing::Strict,
        }),
    }
}

pub fn text_of(request: &RecordedRequest) -> String {
    serde_json::to_string(&request.body["messages"]).unwrap()
}

pub fn by_role<'a>(requests: &'a [RecordedRequest], role: &str) -> Vec<&'a RecordedRequest> {
    requests.iter().filter(|request| request.role.as_deref() == Some(role)).collect()
}

async fn run_case(script: &str, case_id: &str, config: EpisodeConfig) -> (Episode, Vec<RecordedRequest>) {
    run_with(script, case_id, config, Protocol::Agentclinic).await
}

async fn run_with(
    script: &str,
    case_id: &str,
    config: EpisodeConfig,
    protocol: Protocol,
) -> (Episode, Vec<RecordedRequest>) {
    let server = serve(script).await;
    let case = case(case_id);
    let images = case_images(&case, None);
    let actors = actors(&server.openai_base(), &case, config.routing, protocol);
    let episode = run_episode(&case, &images, &actors, &config, None).await;
    let requests = server.requests();
    server.shutdown().await;
    (episode, requests)
}

const FULL_DOCTOR: &str = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "Hello, what brings you in today?"
      - "How long has the pain lasted, and does it spread anywhere?"
      - "REQUEST TEST: ECG, Cardiac biomarkers"
      - "REQUEST IMAGES"
      - "DIAGNOSIS READY: Heart attack affecting the bottom wall of the heart"
  - when: { role: patient }
    reply: "I have a crushing pressure in my chest that spreads to my jaw."
  - when: { role: judge }
    reply: "Yes."
"#;

#[tokio::test]
async fn a_full_episode_routes_every_action() {
    let (episode, requests) = run_case(FULL_DOCTOR, "cardio-01", EpisodeConfig::default()).await;
    assert_eq!(episode.stop_reason, StopReason::Diagnosed);
    assert_eq!(episode.turns, 5);
    assert_eq!(episode.tests_ordered, 2);
    let verdict = episode.verdict.as_ref().unwrap();
    assert!(verdict.correct, "{verdict:?}");
    assert_eq!(verdict.method, VerdictMethod::Judge, "not an exact match, so the judge model decided");

    // The patient was asked the two questions and received only patient facts.
    let patient = by_role(&requests, "patient");
    assert_eq!(patient.len(), 2);
    let system = patient[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("58-year-old man") && system.contains("warehouse supervisor"));
    for result in ["318 ng/L", "ST-segment elevation", "Hypokinesis", "LDL"] {
        assert!(!text_of(patient[0]).contains(result), "the patient must not see test results ({result})");
    }

    // Measurement returned the stored values verbatim, without a model.
    let results = episode
        .events
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::TestResults { text, results, .. } => Some((text.clone(), results.clone())),
            _ => None,
        })
        .unwrap();
    assert!(results.0.contains("High Sensitivity Troponin T 1h: 318 ng/L (ref < 14)"), "{}", results.0);
    assert!(results.0.contains("ST-segment elevation of 3 mm in II, 4.5 mm in III"), "{}", results.0);
    assert_eq!(results.1[0].matched.as_deref(), Some("tests.ECG"));
    assert!(by_role(&requests, "measurement").is_empty(), "grounded measurement calls no model");

    // The results reached the doctor, and the image really went with the turn after REQUEST IMAGES.
    let doctor = by_role(&requests, "doctor");
    assert_eq!(doctor.len(), 5);
    assert!(text_of(doctor[3]).contains("318 ng/L"));
    let content = &doctor[4].body["messages"][1]["content"];
    assert_eq!(content[1]["type"], "image_url", "{content}");
    assert!(content[1]["image_url"]["url"].as_str().unwrap().starts_with("data:image/png;base64,iVBOR"));
    assert!(!text_of(doctor[3]).contains("image_url"), "images only after the request");

    // The judge got the right ground truth and the doctor's diagnosis.
    let judge = by_role(&requests, "judge");
    assert_eq!(judge.len(), 1);
    let question = text_of(judge[0]);
    assert!(question.contains("Correct diagnosis: Acute inferior ST-elevation myocardial infarction"), "{question}");
    assert!(judge[0].body["response_format"]["json_schema"].is_object(), "a constrained yes/no");
    assert!(question.contains("Heart attack affecting the bottom wall of the heart"));

    // Clinical honesty: no role but the judge is ever handed the correct diagnosis.
    let case = case("cardio-01");
    let mut forms = matching::variants(&case.diagnosis);
    for alias in &case.diagnosis_aliases {
        forms.extend(matching::variants(alias));
    }
    for request in requests.iter().filter(|request| request.role.as_deref() != Some("judge")) {
        assert_eq!(matching::find(&forms, &text_of(request)), None, "{:?} was handed the diagnosis", request.role);
    }

    // The transcript has every kind of event, with model calls and prompt versions.
    let calls = episode.events.iter().filter(|event| matches!(event.kind, EventKind::ModelCall { .. })).count();
    assert_eq!(calls, 5 + 2 + 1);
    assert!(episode.events.iter().any(|event| matches!(&event.kind, EventKind::ModelCall { prompt: Some(prompt), .. } if prompt.starts_with("doctor.j2@"))));
    assert!(episode.tokens.prompt > 0);
    let json = serde_json::to_string(&episode).unwrap();
    for kind in [
        "episode_started",
        "utterance",
        "doctor_action",
        "test_order",
        "test_results",
        "image_request",
        "diagnosis",
        "verdict",
        "model_call",
        "episode_ended",
    ] {
        assert!(json.contains(&format!("\"type\":\"{kind}\"")), "{kind}");
    }
}

#[tokio::test]
async fn exact_matches_skip_the_judge_model() {
    let script = r#"
rules:
  - when: { role: doctor }
    reply: "**Diagnosis ready:** Inferior STEMI"
"#;
    let (episode, requests) = run_case(script, "cardio-01", EpisodeConfig::default()).await;
    let verdict = episode.verdict.unwrap();
    assert!(verdict.correct);
    assert_eq!(verdict.method, VerdictMethod::Alias);
    assert!(by_role(&requests, "judge").is_empty());
}

#[tokio::test]
async fn the_budget_is_enforced_and_a_final_diagnosis_is_asked_for() {
    let script = r#"
rules:
  - when: { role: doctor, last: "Give your final diagnosis now" }
    reply: "DIAGNOSIS READY: Pulmonary embolism"
  - when: { role: doctor }
    reply: "Tell me more."
  - when: { role: patient }
    reply: "It hurts."
  - when: { role: judge }
    reply: "No"
"#;
    let config = EpisodeConfig { max_turns: 3, ..EpisodeConfig::default() };
    let (episode, requests) = run_case(script, "cardio-01", config).await;
    assert_eq!(episode.stop_reason, StopReason::BudgetExhausted);
    assert_eq!(episode.turns, 3);
    let doctor = by_role(&requests, "doctor");
    assert_eq!(doctor.len(), 4, "three turns and one final call");
    assert!(
        text_of(doctor[2]).contains("This is the final question. Please provide a diagnosis."),
        "the last turn says so"
    );
    let verdict = episode.verdict.unwrap();
    assert!(!verdict.correct);
    assert_eq!(verdict.diagnosis, "Pulmonary embolism");

    // A doctor that never diagnoses ends with a recorded no-diagnosis verdict.
    let script =
        "rules:\n  - when: { role: doctor }\n    reply: \"Hmm.\"\n  - when: { role: patient }\n    reply: \"Yes.\"\n";
    let config = EpisodeConfig { max_turns: 2, ..EpisodeConfig::default() };
    let (episode, _) = run_case(script, "gi-01", config).await;
    assert_eq!(episode.stop_reason, StopReason::BudgetExhausted);
    assert_eq!(episode.verdict.unwrap().method, VerdictMethod::NoDiagnosis);
}

#[tokio::test]
async fn a_failing_model_ends_the_episode_with_an_error() {
    let script = "faults: { server_error: 1.0 }\n";
    let (episode, _) = run_case(script, "pulm-01", EpisodeConfig::default()).await;
    assert_eq!(episode.stop_reason, StopReason::Error);
    assert!(episode.error.as_deref().unwrap().contains("HTTP 500"), "{:?}", episode.error);
    assert!(episode.verdict.is_none());
}

#[tokio::test]
async fn strict_routing_reproduces_agentclinic() {
    let script = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["How are you? REQUEST TEST: ECG", "DIAGNOSIS READY: STEMI"]
  - when: { role: judge }
    reply: "Yes."
"#;
    let config = EpisodeConfig { routing: Routing::Strict, ..EpisodeConfig::default() };
    let (episode, requests) = run_case(script, "cardio-01", config).await;
    assert!(by_role(&requests, "patient").is_empty(), "a test request takes the patient's turn");
    let verdict = episode.verdict.unwrap();
    assert!(!verdict.correct, "AgentClinic counts \"Yes.\" as wrong (exact \"yes\" only)");
    assert_eq!(verdict.method, VerdictMethod::Judge);
    let judge = by_role(&requests, "judge");
    assert!(
        text_of(judge[0]).contains("Here was the doctor dialogue: DIAGNOSIS READY: STEMI"),
        "the whole text is judged"
    );
    let patient_facts = by_role(&requests, "doctor")[0].body["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(patient_facts.contains("You have asked 0 questions so far."));
}

#[tokio::test]
async fn nejm_cases_give_the_doctor_only_agentclinics_question_in_strict_mode() {
    let script = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["DIAGNOSIS READY: Herpes zoster"]
  - when: { role: judge }
    reply: "yes"
"#;
    let case = case("derm-01");
    let vignette = case.question.clone().expect("derm-01 is an NEJM-style case with a question");
    let strict = EpisodeConfig { routing: Routing::Strict, ..EpisodeConfig::default() };
    let (_, requests) = run_case(script, "derm-01", strict).await;
    let doctor = text_of(by_role(&requests, "doctor")[0]);
    assert!(doctor.contains("What is the most likely diagnosis?"), "{doctor}");
    assert!(!doctor.contains(&vignette[..60]), "AgentClinic never shows the NEJM doctor the question's vignette");
    // medsim's default gives the doctor the case's presentation (README: "case text in prompts").
    let (_, requests) = run_case(script, "derm-01", EpisodeConfig::default()).await;
    let doctor = text_of(by_role(&requests, "doctor")[0]);
    assert!(doctor.contains(&case.objective), "{doctor}");
}

#[tokio::test]
async fn patient_leaks_are_recorded() {
    let script = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What do you think is wrong?", "DIAGNOSIS READY: Gout"]
  - when: { role: patient }
    reply: "My neighbour says it is acute gout, like his."
"#;
    let (episode, _) = run_case(script, "rheum-01", EpisodeConfig::default()).await;
    assert_eq!(episode.patient_leaks, 1);
    assert!(episode.events.iter().any(|event| matches!(&event.kind, EventKind::Leak { role: RoleName::Patient, .. })));
}

#[tokio::test]
async fn images_can_be_refused_or_always_sent() {
    let script = "rules:\n  - when: { role: doctor }\n    turn_from: \"You have asked (\\\\d+) questions\"\n    replies: [\"REQUEST IMAGES\", \"DIAGNOSIS READY: x\"]\n  - when: { role: judge }\n    reply: \"No\"\n";
    let config = EpisodeConfig { images: ImagePolicy::Never, ..EpisodeConfig::default() };
    let (episode, requests) = run_case(script, "cardio-01", config).await;
    let note = episode.events.iter().find_map(|event| match &event.kind {
        EventKind::ImageRequest { note, sent, .. } => Some((note.clone(), *sent)),
        _ => None,
    });
    assert_eq!(note, Some((Some("Images are not available in this consultation.".into()), 0)));
    assert!(!serde_json::to_string(&requests[1].body).unwrap().contains("image_url"));

    let config = EpisodeConfig { images: ImagePolicy::Always, ..EpisodeConfig::default() };
    let (_, requests) = run_case(script, "cardio-01", config).await;
    assert!(serde_json::to_string(&requests[0].body).unwrap().contains("image_url"), "sent from the first turn");
}

const TOOLS_SCRIPT: &str = r#"
rules:
  - when: { role: doctor, tools: true }
    turn_from: "have taken (\\d+)"
    replies:
      - { tool_calls: [ { name: ask, arguments: { question: "Where is the pain?" } } ] }
      - { tool_calls: [ { name: order_tests, arguments: { tests: ["ECG", "Troponin"] } } ] }
      - { tool_calls: [ { name: diagnose, arguments: { primary: "Inferior STEMI", differential: [ { diagnosis: "Unstable angina", probability: 0.1 } ] } } ] }
  - when: { role: patient }
    reply: "In the middle of my chest."
"#;

/// An episode in the tools protocol (also used by the schema tests).
pub async fn tools_episode() -> Episode {
    run_with(TOOLS_SCRIPT, "cardio-01", EpisodeConfig::default(), Protocol::Tools).await.0
}

#[tokio::test]
async fn the_tools_protocol_acts_through_tool_calls() {
    let (episode, requests) = run_with(TOOLS_SCRIPT, "cardio-01", EpisodeConfig::default(), Protocol::Tools).await;
    assert_eq!(episode.stop_reason, StopReason::Diagnosed);
    assert!(episode.verdict.as_ref().unwrap().correct);
    let doctor = by_role(&requests, "doctor");
    let offered: Vec<&str> = doctor[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["ask", "order_tests", "request_images", "diagnose"]);
    assert_eq!(doctor[0].body["tool_choice"], "required");
    let diagnosis = episode.events.iter().find_map(|event| match &event.kind {
        EventKind::Diagnosis { diagnosis, .. } => Some(diagnosis.clone()),
        _ => None,
    });
    let diagnosis = diagnosis.unwrap();
    assert_eq!(diagnosis.differential[0].diagnosis, "Unstable angina");
    assert_eq!(diagnosis.differential[0].probability, Some(0.1));
    assert_eq!(by_role(&requests, "patient").len(), 1);
    assert!(text_of(doctor[2]).contains("318 ng/L"), "the ordered results reached the doctor");

    // Each turn's prompt begins with the previous turn's system message and history, which a prefix
    // cache keeps: the system message never changes, and the turn count sits at the end.
    let message = |request: &RecordedRequest, index: usize| {
        request.body["messages"][index]["content"].as_str().unwrap().to_owned()
    };
    assert_eq!(doctor.len(), 3);
    for (turn, request) in doctor.iter().enumerate() {
        assert_eq!(message(request, 0), message(doctor[0], 0), "the system message of turn {turn} changed");
        let user = message(request, 1);
        assert!(user.ends_with(&format!("You have taken {turn} of 20 turns. Act through one tool.")), "{user}");
        if turn > 0 {
            let previous = message(doctor[turn - 1], 1);
            let history = previous.split("\n Here was the patient response").next().unwrap();
            assert!(
                user.starts_with(history),
                "turn {turn} does not extend turn {}:\n{previous}\n---\n{user}",
                turn - 1
            );
        }
    }
}

#[tokio::test]
async fn models_without_tools_fall_back_to_text() {
    let server = serve("rules:\n  - when: { role: doctor }\n    reply: \"DIAGNOSIS READY: Inferior STEMI\"\n").await;
    let mut settings = LlmSettings::default();
    settings.providers.insert(
        "plain".into(),
        ProviderSettings {
            base_url: Some(server.openai_base()),
            capabilities: medsim_llm::config::CapabilitySettings { tools: Some(false), ..Default::default() },
            ..ProviderSettings::default()
        },
    );
    let factory = ModelFactory::with_environment(settings, |_| None);
    let case = case("cardio-01");
    let mut actors = actors(&server.openai_base(), &case, Routing::Tolerant, Protocol::Tools);
    let prices = Arc::new(medsim_llm::pricing::PriceTable::builtin());
    actors.doctor = Arc::new(ModelDoctor {
        seat: ModelSeat::new(factory.model("plain/m").unwrap(), RoleName::Doctor, prices),
        prompts: Arc::new(PromptSet::embedded()),
        bias: None,
        protocol: Protocol::Tools,
    });
    let episode = run_episode(&case, &[], &actors, &EpisodeConfig::default(), None).await;
    assert!(episode.verdict.unwrap().correct);
    let requests = server.requests();
    assert!(requests[0].body.get("tools").is_none(), "no tools offered to a model without tool support");
    assert!(requests[0].body["messages"][0]["content"].as_str().unwrap().contains("DIAGNOSIS READY: [diagnosis here]"));
    server.shutdown().await;
}

#[tokio::test]
async fn cases_with_answer_options_are_judged_by_option() {
    // The judge model maps the doctor's words to option 3 (Herpes zoster, the correct one).
    let script = r#"
rules:
  - when: { role: doctor }
    reply: "DIAGNOSIS READY: Reactivated varicella-zoster virus infection in a dermatome"
  - when: { role: judge, any: "Which option" }
    reply: "3"
"#;
    let (episode, requests) = run_case(script, "derm-01", EpisodeConfig::default()).await;
    let verdict = episode.verdict.unwrap();
    assert!(verdict.correct, "{verdict:?}");
    assert_eq!(verdict.method, VerdictMethod::Options);
    assert!(verdict.reason.contains("option 3"), "{}", verdict.reason);
    let judge = text_of(by_role(&requests, "judge")[0]);
    assert!(judge.contains("1. Allergic contact dermatitis") && judge.contains("5. Bullous pemphigoid"), "{judge}");
    assert!(!judge.contains("correct"), "the judge is not told which option is right: {judge}");

    // Naming a wrong option's words exactly decides without a call.
    let script = "rules:\n  - when: { role: doctor }\n    reply: \"DIAGNOSIS READY: Bullous impetigo\"\n";
    let (episode, requests) = run_case(script, "derm-01", EpisodeConfig::default()).await;
    let verdict = episode.verdict.unwrap();
    assert!(!verdict.correct);
    assert_eq!(verdict.method, VerdictMethod::Options);
    assert!(by_role(&requests, "judge").is_empty());
}

const LOOPING: &str = r#"
rules:
  - when: { role: doctor, tools: true }
    turn_from: "have taken (\\d+)"
    replies:
      - { tool_calls: [ { name: order_tests, arguments: { tests: ["ECG", "Troponin"] } } ] }
      - { tool_calls: [ { name: order_tests, arguments: { tests: ["troponin", "ECG"] } } ] }
      - { tool_calls: [ { name: ask, arguments: { question: "Where is the pain?" } } ] }
      - { tool_calls: [ { name: ask, arguments: { question: "Where is the pain?" } } ] }
      - { tool_calls: [ { name: diagnose, arguments: { primary: "Inferior STEMI" } } ] }
  - when: { role: patient }
    reply: "In the middle of my chest."
"#;

#[tokio::test]
async fn the_aids_answer_repeats_from_what_the_doctor_has_and_keep_notes() {
    let config = EpisodeConfig { aids: medsim_engine::Aids::all(), ..EpisodeConfig::default() };
    let (episode, requests) = run_with(LOOPING, "cardio-01", config, Protocol::Tools).await;
    let repeats: Vec<(String, u32, u32)> = episode
        .events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::RepeatedAction { turn, repeated, first_turn } => Some((repeated.clone(), *turn, *first_turn)),
            _ => None,
        })
        .collect();
    assert_eq!(repeats, [("tests".to_owned(), 2, 1), ("question".to_owned(), 4, 3)]);
    assert_eq!(episode.tests_ordered, 2, "the repeated order was not carried out again");
    assert_eq!(by_role(&requests, "patient").len(), 1, "the repeated question did not reach the patient");
    let doctor = by_role(&requests, "doctor");
    assert!(text_of(doctor[0]).contains("Start by asking the patient about their main complaint"));
    assert!(!text_of(doctor[1]).contains("Start by asking"), "only on the first turn");
    assert!(text_of(doctor[2]).contains("You already ordered these tests at turn 1"), "{}", text_of(doctor[2]));
    assert!(text_of(doctor[2]).contains("318 ng/L"), "with the results the doctor already had");
    assert!(text_of(doctor[4]).contains("Notes so far"), "{}", text_of(doctor[4]));
    assert!(text_of(doctor[4]).contains("asked Where is the pain?: In the middle of my chest."));
    // After a repeat the next call samples hotter, with another seed.
    let temperature = |index: usize| doctor[index].body["temperature"].as_f64().unwrap_or(0.0);
    assert!(temperature(2) >= 0.8 && temperature(1) < 0.8, "{} {}", temperature(1), temperature(2));
    assert_ne!(doctor[2].body["seed"], doctor[1].body["seed"]);
    assert!(episode.verdict.unwrap().correct);

    // Resampling alone: the repeats are carried out again, and the call after each samples hotter.
    let aids = medsim_engine::Aids::parse("resample").unwrap();
    let config = EpisodeConfig { aids, ..EpisodeConfig::default() };
    let (episode, requests) = run_with(LOOPING, "cardio-01", config, Protocol::Tools).await;
    assert_eq!(episode.tests_ordered, 4);
    assert!(!episode.events.iter().any(|event| matches!(event.kind, EventKind::RepeatedAction { .. })));
    let doctor = by_role(&requests, "doctor");
    let hot: Vec<bool> =
        doctor.iter().map(|request| request.body["temperature"].as_f64().unwrap_or(0.0) >= 0.8).collect();
    assert_eq!(hot, [false, false, true, false, true], "after the repeated tests (turn 2) and question (turn 4)");

    // Without aids the same doctor's repeat is carried out again, as in AgentClinic.
    let (episode, requests) = run_with(LOOPING, "cardio-01", EpisodeConfig::default(), Protocol::Tools).await;
    assert_eq!(episode.tests_ordered, 4);
    assert_eq!(by_role(&requests, "patient").len(), 2);
    assert!(!text_of(by_role(&requests, "doctor")[0]).contains("Start by asking"));
}

#[tokio::test]
async fn tests_are_priced_and_an_order_over_the_budget_is_refused() {
    const SCRIPT: &str = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["REQUEST TEST: CT head", "REQUEST TEST: Serum glucose", "DIAGNOSIS READY: Diabetic ketoacidosis"]
  - when: { role: judge }
    reply: "Yes"
"#;
    let prices = Arc::new(medsim_core::prices::PriceTable::builtin());
    let config = EpisodeConfig { prices: Some(prices.clone()), budget: Some(140.0), ..EpisodeConfig::default() };
    let (episode, requests) = run_with(SCRIPT, "endo-01", config, Protocol::Agentclinic).await;
    let refused: Vec<&EventKind> = episode
        .events
        .iter()
        .map(|event| &event.kind)
        .filter(|kind| matches!(kind, EventKind::OrderRefused { .. }))
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", episode.events);
    if let EventKind::OrderRefused { tests, price, remaining, .. } = refused[0] {
        assert_eq!((tests.as_slice(), *price, *remaining), (&["CT head".to_owned()][..], 110.0, 10.0));
    }
    // The doctor was told, and its next, cheaper order went ahead.
    let doctor = by_role(&requests, "doctor");
    assert!(text_of(doctor[1]).contains("Order refused: it costs $110 and $10"), "{}", text_of(doctor[1]));
    assert_eq!(episode.tests_ordered, 1);
    assert_eq!(episode.priced.len(), 1);
    assert_eq!((episode.priced[0].item.as_str(), episode.priced[0].price), ("analyte:glucose", 4.0));
    assert_eq!(episode.care_cost, 134.0, "the visit and the glucose");
    assert_eq!(episode.stop_reason, StopReason::Diagnosed);

    // The doctor was not shown prices: it learnt of them only from the refusal.
    assert!(!text_of(doctor[0]).contains("Prices ("), "{}", text_of(doctor[0]));

    // Without a budget the same orders both go ahead and both are priced.
    let config = EpisodeConfig { prices: Some(prices.clone()), ..EpisodeConfig::default() };
    let (episode, _) = run_with(SCRIPT, "endo-01", config, Protocol::Agentclinic).await;
    assert_eq!((episode.tests_ordered, episode.care_cost), (2, 244.0));

    // Cost-aware prompting: the price list in the doctor's instructions, the spending in each turn.
    let config =
        EpisodeConfig { prices: Some(prices), budget: Some(400.0), show_prices: true, ..EpisodeConfig::default() };
    let (_, requests) = run_with(SCRIPT, "endo-01", config, Protocol::Agentclinic).await;
    let doctor = by_role(&requests, "doctor");
    let system = doctor[0].body["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(system.contains("Prices (USD 2025;") && system.contains("CT head $110"), "{system}");
    assert!(text_of(doctor[0]).contains("Spent on this case so far: $130 of its $400 budget ($270 left)."));
    assert!(text_of(doctor[1]).contains("Spent on this case so far: $240 of its $400 budget ($160 left)."));
    for role in ["patient", "judge"] {
        assert!(by_role(&requests, role).iter().all(|request| !text_of(request).contains("Prices (")));
    }
}
