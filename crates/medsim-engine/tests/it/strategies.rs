//! Doctor strategies against the scripted server: private chain-of-thought, experience memory
//! (what is stored and when, which neighbours come back, where they go), reflection in both
//! outcomes, the panel, self-consistency and best-of-N. Throughout: no strategy hands the
//! patient, measurement or judge anything private, and nothing but the reflection's lesson
//! prompt (learning mode, after the verdict) sees the ground truth.

use std::sync::{Arc, RwLock};

use medsim_agents::memory::{Buffer, Entry, Filter, Memory};
use medsim_agents::prompts::PromptSet;
use medsim_agents::strategic::{Learner, Lesson, MemoryAccess, StrategicDoctor};
use medsim_agents::strategy::Strategies;
use medsim_agents::{
    GroundedMeasurementActor, Judge, ModelDoctor, ModelPatient, ModelSeat, Protocol, Rendering, patient_facts,
};
use medsim_core::case::Case;
use medsim_core::measure::GroundedMeasurement;
use medsim_core::transcript::{EventKind, RoleName};
use medsim_engine::{Actors, Episode, EpisodeConfig, run_episode};
use medsim_llm::ModelFactory;
use medsim_llm::embedding::SharedEmbedder;
use medsim_llm::script::server::{RecordedRequest, pseudo_embedding};

use crate::episodes::{by_role, case, factory, serve, text_of};

struct Setup {
    actors: Actors,
    doctor_seat: ModelSeat,
    prompts: Arc<PromptSet>,
}

fn seat(factory: &ModelFactory, role: RoleName) -> ModelSeat {
    let prices = Arc::new(medsim_llm::pricing::PriceTable::builtin());
    let mut seat = ModelSeat::new(factory.model("scripted/model").unwrap(), role, prices);
    seat.seed = Some(11);
    seat
}

fn setup(factory: &ModelFactory, case: &Case, strategies: &str, memory: Option<MemoryAccess>) -> Setup {
    let prompts = Arc::new(PromptSet::embedded());
    let doctor_seat = seat(factory, RoleName::Doctor);
    let base = ModelDoctor {
        seat: doctor_seat.clone(),
        prompts: prompts.clone(),
        bias: None,
        protocol: Protocol::Agentclinic,
    };
    let strategies = Strategies::parse(strategies).unwrap();
    let verifier = strategies.best_of.map(|_| seat(factory, RoleName::Judge));
    Setup {
        actors: Actors {
            doctor: Arc::new(StrategicDoctor::new(base, strategies, memory, verifier)),
            patient: Arc::new(ModelPatient {
                seat: seat(factory, RoleName::Patient),
                prompts: prompts.clone(),
                bias: None,
                facts: patient_facts(case, Rendering::Readable),
                carer_note: true,
            }),
            measurement: Arc::new(GroundedMeasurementActor { grounded: GroundedMeasurement::new(case) }),
            judge: Arc::new(Judge {
                seat: Some(seat(factory, RoleName::Judge)),
                prompts: prompts.clone(),
                ground_truth: case.diagnosis.clone(),
                aliases: case.diagnosis_aliases.clone(),
                options: Vec::new(),
                strict: false,
            }),
        },
        doctor_seat,
        prompts,
    }
}

async fn episode(script: &str, case_id: &str, strategies: &str) -> (Episode, Vec<RecordedRequest>) {
    let server = serve(script).await;
    let case = case(case_id);
    let factory = factory(&server.openai_base());
    let setup = setup(&factory, &case, strategies, None);
    let episode = run_episode(&case, &[], &setup.actors, &EpisodeConfig::default(), None).await;
    let requests = server.requests();
    server.shutdown().await;
    (episode, requests)
}

fn kinds(episode: &Episode) -> Vec<&EventKind> {
    episode.events.iter().map(|event| &event.kind).collect()
}

/// Requests by anyone but the doctor must not contain `secret`.
fn others_never_see(requests: &[RecordedRequest], secret: &str) {
    for role in ["patient", "measurement", "judge"] {
        for request in by_role(requests, role) {
            assert!(!text_of(request).contains(secret), "the {role} saw {secret:?}: {}", text_of(request));
        }
    }
}

const COT: &str = r#"
rules:
  - when: { role: doctor, last: "think step by step in private" }
    reply: "PRIVATE-THOUGHT-42: exertional pressure, so acute coronary syndrome first."
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "Where exactly is the pressure, and does it spread?"
      - "REQUEST TEST: ECG"
      - "DIAGNOSIS READY: Acute inferior ST-elevation myocardial infarction"
  - when: { role: patient }
    reply: "It is in the middle of my chest and goes to my jaw."
  - when: { role: judge }
    reply: "Yes"
"#;

#[tokio::test]
async fn chain_of_thought_is_private_to_the_doctor() {
    let (episode, requests) = episode(COT, "cardio-01", "cot").await;
    assert!(episode.verdict.as_ref().unwrap().correct);
    let reasoning: Vec<&str> = kinds(&episode)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::Reasoning { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasoning.len(), 3, "one reasoning before each of the three actions");
    assert!(reasoning.iter().all(|text| text.starts_with("PRIVATE-THOUGHT-42")));
    // The reasoning reaches the doctor's own action call, and no one else.
    let doctor = by_role(&requests, "doctor");
    assert_eq!(doctor.len(), 6);
    assert!(doctor.iter().any(|request| {
        let text = text_of(request);
        text.contains("Your private reasoning for this turn") && text.contains("PRIVATE-THOUGHT-42")
    }));
    others_never_see(&requests, "PRIVATE-THOUGHT");
    // Nor is it in anything said aloud.
    for kind in kinds(&episode) {
        if let EventKind::Utterance { text, .. } = kind {
            assert!(!text.contains("PRIVATE-THOUGHT"), "{text}");
        }
    }
}

fn scripted_embedder(factory: &ModelFactory) -> SharedEmbedder {
    factory.embedder("scripted/emb", 64).unwrap()
}

fn entry(buffer: Buffer, case_id: &str, train_index: u32, key: &str, text: &str) -> Entry {
    Entry {
        id: 0,
        buffer,
        dataset: "train-set".into(),
        case_id: case_id.into(),
        train_index,
        key: key.into(),
        text: text.into(),
    }
}

fn known_memory(path: &std::path::Path) -> Memory {
    let mut memory = Memory::open_for_learning(path, "scripted/emb", 64).unwrap();
    let entries = [
        entry(
            Buffer::Record,
            "t-mi",
            0,
            "chest pressure on exertion spreading to the jaw with sweating",
            "EXAMPLE-MI: exertional chest pressure; ECG ST elevation. Diagnosis: myocardial infarction",
        ),
        entry(
            Buffer::Record,
            "t-psoriasis",
            1,
            "itchy silver scales on elbows and knees",
            "EXAMPLE-PSO: Diagnosis: psoriasis",
        ),
        entry(
            Buffer::Record,
            "t-dm",
            2,
            "thirst frequent urination and weight loss",
            "EXAMPLE-DM: Diagnosis: type 1 diabetes",
        ),
        entry(
            Buffer::Experience,
            "t-pe",
            3,
            "chest pain with breathlessness after a long flight",
            "EXAMPLE-LESSON: ask about travel and leg swelling in chest pain",
        ),
    ];
    for item in entries {
        let vector = pseudo_embedding(&item.key);
        memory.add(item, &vector).unwrap();
    }
    memory
}

#[tokio::test]
async fn memory_returns_known_neighbours_and_respects_its_filters() {
    let server = serve("rules: []\n").await;
    let factory = factory(&server.openai_base());
    let directory = tempfile::tempdir().unwrap();
    let memory = Arc::new(RwLock::new(known_memory(&directory.path().join("memory.sqlite"))));
    let access = |k, filter| MemoryAccess { memory: memory.clone(), embedder: scripted_embedder(&factory), k, filter };
    let found =
        access(2, Filter::ALL).retrieve("pressure in the chest spreading to the jaw on exertion").await.unwrap();
    let ids: Vec<&str> = found.iter().map(|(entry, _)| entry.case_id.as_str()).collect();
    assert_eq!(ids[0], "t-mi");
    assert!(found[0].1 > found[1].1);
    let found = access(1, Filter::ALL).retrieve("itchy scales on the elbows").await.unwrap();
    assert_eq!(found[0].0.case_id, "t-psoriasis");
    // Records only: the lesson is never returned; a curve point of 2 training cases: only
    // entries of training cases 0 and 1.
    let records_only = Filter { records: true, experiences: false, max_train_cases: None };
    let found = access(4, records_only).retrieve("chest pain after a long flight").await.unwrap();
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|(entry, _)| entry.buffer == Buffer::Record));
    let first_two = Filter { max_train_cases: Some(2), ..Filter::ALL };
    let found = access(4, first_two).retrieve("chest pain").await.unwrap();
    let mut ids: Vec<&str> = found.iter().map(|(entry, _)| entry.case_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["t-mi", "t-psoriasis"]);
    server.shutdown().await;
    // Reopened read-only, the same entries are there and nothing can be written.
    let reopened = Memory::open_read_only(&directory.path().join("memory.sqlite")).unwrap();
    assert_eq!(reopened.counts(), (3, 1));
    assert_eq!(reopened.embedder(), "scripted/emb");
    let mut reopened = reopened;
    let error = reopened.add(entry(Buffer::Record, "x", 9, "x", "x"), &pseudo_embedding("x")).unwrap_err();
    assert!(error.to_string().contains("read-only"), "{error}");
}

const PLAIN: &str = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "Does the pressure spread to your jaw, and are you sweating?"
      - "DIAGNOSIS READY: Myocardial infarction"
  - when: { role: patient }
    reply: "Yes, to my jaw, and I am sweating."
  - when: { role: judge }
    reply: "Yes"
"#;

#[tokio::test]
async fn retrieved_examples_reach_the_doctor_prompt_and_nothing_else() {
    let server = serve(PLAIN).await;
    let factory = factory(&server.openai_base());
    let directory = tempfile::tempdir().unwrap();
    let memory = Arc::new(RwLock::new(known_memory(&directory.path().join("memory.sqlite"))));
    let access = MemoryAccess { memory, embedder: scripted_embedder(&factory), k: 2, filter: Filter::ALL };
    let case = case("cardio-01");
    let setup = setup(&factory, &case, "memory:k=2,reflection", Some(access));
    let episode = run_episode(&case, &[], &setup.actors, &EpisodeConfig::default(), None).await;
    let requests = server.requests();
    server.shutdown().await;
    assert!(episode.verdict.as_ref().unwrap().correct);
    let retrievals: Vec<&Vec<medsim_core::transcript::Retrieved>> = kinds(&episode)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::Retrieval { entries, .. } => Some(entries),
            _ => None,
        })
        .collect();
    assert_eq!(retrievals.len(), 1, "retrieved once, at the first turn; the diagnosis came within the budget");
    assert_eq!(retrievals[0].len(), 2);
    assert_eq!(retrievals[0][0].case_id, "t-mi", "{retrievals:?}");
    let doctor = by_role(&requests, "doctor");
    assert!(doctor.iter().all(|request| text_of(request).contains("EXAMPLE-MI")), "every doctor turn has the examples");
    others_never_see(&requests, "EXAMPLE-");
}

fn reflection_script(retry: &str) -> String {
    format!(
        r#"
rules:
  - when: {{ role: doctor, system: "reviewing one of your own consultations" }}
    reply: "LESSON: exertional pressure spreading to the jaw needs an ECG before anything else."
  - when: {{ role: doctor, system: "with the lesson from your experience" }}
    reply: "DIAGNOSIS READY: {retry}"
  - when: {{ role: doctor }}
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "Does it hurt when you eat?"
      - "DIAGNOSIS READY: Gastritis"
  - when: {{ role: patient }}
    reply: "Not really, it came on while I was shovelling snow."
  - when: {{ role: judge, last: "doctor dialogue: Acute inferior ST-elevation myocardial infarction" }}
    reply: "Yes"
  - when: {{ role: judge }}
    reply: "No"
"#
    )
}

async fn learn_once(script: &str) -> (Episode, Vec<RecordedRequest>, Memory, Vec<EventKind>) {
    let server = serve(script).await;
    let factory = factory(&server.openai_base());
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("memory.sqlite");
    let memory = Arc::new(RwLock::new(Memory::open_for_learning(&path, "scripted/emb", 64).unwrap()));
    let case = case("cardio-01");
    let setup = setup(&factory, &case, "reflection", None);
    let episode = run_episode(&case, &[], &setup.actors, &EpisodeConfig::default(), None).await;
    assert_eq!(memory.read().unwrap().counts(), (0, 0), "nothing is written during the consultation");
    let learner = Learner {
        memory,
        embedder: scripted_embedder(&factory),
        dataset: "builtin".into(),
        reflection: true,
        unmasked: false,
    };
    let verdict = episode.verdict.clone().unwrap();
    let lesson = Lesson {
        case_id: &case.id,
        presentation: &case.objective,
        train_index: 0,
        events: &episode.events,
        verdict: &verdict,
    };
    let events =
        learner.after_verdict(&setup.doctor_seat, &setup.prompts, setup.actors.judge.as_ref(), lesson).await.unwrap();
    let requests = server.requests();
    server.shutdown().await;
    (episode, requests, Memory::open_read_only(&path).unwrap(), events)
}

#[tokio::test]
async fn reflection_stores_a_lesson_only_when_the_retry_is_right() {
    let ground_truth = "Acute inferior ST-elevation myocardial infarction";
    // The retry with the lesson is right: the lesson is stored in the experience buffer.
    let (episode, requests, memory, events) = learn_once(&reflection_script(ground_truth)).await;
    assert!(!episode.verdict.as_ref().unwrap().correct, "the consultation itself was wrong");
    let reflection = events
        .iter()
        .find_map(|kind| match kind {
            EventKind::Reflection { lesson, retry, retry_correct, stored } => {
                Some((lesson.clone(), retry.clone(), *retry_correct, *stored))
            }
            _ => None,
        })
        .expect("a reflection event");
    assert!(reflection.0.starts_with("LESSON:"));
    assert_eq!(reflection.1, ground_truth);
    assert!(reflection.2 && reflection.3);
    assert!(events.iter().any(|kind| matches!(kind, EventKind::MemoryWrite { buffer, .. } if buffer == "experience")));
    assert_eq!(memory.counts(), (0, 1));
    assert!(memory.entries()[0].text.starts_with("LESSON:"));
    // The lesson prompt shows the answer (that is reflection); the retry prompt does not.
    let lesson_request = requests
        .iter()
        .find(|request| text_of(request).contains("reviewing one of your own consultations"))
        .expect("lesson request");
    assert!(text_of(lesson_request).contains(&format!("The correct diagnosis: {ground_truth}")));
    let retry_request = requests
        .iter()
        .find(|request| text_of(request).contains("with the lesson from your experience"))
        .expect("retry request");
    assert!(!text_of(retry_request).contains(ground_truth), "the retry is not shown the answer");
    assert!(text_of(retry_request).contains("LESSON: exertional pressure"));
    // A lesson that names the answer has it blanked out for the retry, and is stored whole.
    let naming = reflection_script(ground_truth).replace(
        "LESSON: exertional pressure spreading to the jaw needs an ECG before anything else.",
        "LESSON: this was an acute inferior ST-elevation myocardial infarction; get an ECG first.",
    );
    let (_, requests, memory, _) = learn_once(&naming).await;
    let retry_request = requests
        .iter()
        .find(|request| text_of(request).contains("with the lesson from your experience"))
        .expect("retry request");
    assert!(text_of(retry_request).contains("LESSON: this was an [the correct diagnosis]; get an ECG first."));
    assert!(memory.entries()[0].text.contains("acute inferior ST-elevation myocardial infarction"));

    // The retry is still wrong: nothing is stored.
    let (_, _, memory, events) = learn_once(&reflection_script("Gastritis")).await;
    assert!(
        events.iter().any(|kind| matches!(kind, EventKind::Reflection { stored: false, retry_correct: false, .. }))
    );
    assert!(!events.iter().any(|kind| matches!(kind, EventKind::MemoryWrite { .. })));
    assert_eq!(memory.counts(), (0, 0));
}

#[tokio::test]
async fn a_correct_verdict_is_stored_as_a_record_after_the_verdict() {
    let script = reflection_script("unused")
        .replace("DIAGNOSIS READY: Gastritis", "DIAGNOSIS READY: Acute inferior ST-elevation myocardial infarction");
    let (episode, requests, memory, events) = learn_once(&script).await;
    assert!(episode.verdict.as_ref().unwrap().correct);
    assert!(
        events.iter().all(|kind| !matches!(kind, EventKind::Reflection { .. })),
        "no reflection after a right answer"
    );
    assert_eq!(memory.counts(), (1, 0));
    let record = &memory.entries()[0];
    assert_eq!(record.case_id, "cardio-01");
    assert!(record.text.contains("Key questions: Does it hurt when you eat?"), "{}", record.text);
    assert!(record.text.contains("shovelling snow"), "{}", record.text);
    assert!(record.text.ends_with("Diagnosis: Acute inferior ST-elevation myocardial infarction"));
    assert!(!requests.is_empty());
}

const PANEL: &str = r#"
rules:
  - when: { role: doctor, system: "you are the generalist" }
    reply: "1. Pericarditis (50%)\n2. Myocardial infarction (30%)\nPleuritic features."
  - when: { role: doctor, system: "you are the specialist" }
    reply: "Cardiology.\n1. Myocardial infarction (80%)\n2. Aortic dissection (10%)"
  - when: { role: doctor, system: "you are the challenger" }
    reply: "1. myocardial infarctions (40%)\n2. Aortic dissection (35%)"
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "When did it start?"
      - "DIAGNOSIS READY: Pericarditis"
  - when: { role: patient }
    reply: "While shovelling snow."
  - when: { role: judge, last: "Doctor's diagnosis: Myocardial infarction" }
    reply: "Yes"
  - when: { role: judge }
    reply: "No"
"#;

#[tokio::test]
async fn the_panel_discusses_and_votes_in_code() {
    let (episode, requests) = episode(PANEL, "cardio-01", "panel:n=3:rounds=2").await;
    let opinions: Vec<(u32, String, u32)> = kinds(&episode)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::Opinion { member, stance, round, .. } => Some((*member, stance.clone(), *round)),
            _ => None,
        })
        .collect();
    assert_eq!(opinions.len(), 6, "three members, two rounds");
    assert_eq!(opinions[0], (0, "generalist".into(), 1));
    assert_eq!(opinions[5], (2, "challenger".into(), 2));
    let vote = kinds(&episode)
        .into_iter()
        .find_map(|kind| match kind {
            EventKind::Vote { method, lead, tallies, chosen, reason, .. } => {
                Some((method.clone(), lead.clone(), tallies.clone(), chosen.clone(), reason.clone()))
            }
            _ => None,
        })
        .expect("a vote");
    assert_eq!(vote.0, "panel");
    assert_eq!(vote.1, "Pericarditis", "the consulting doctor's own answer");
    assert_eq!(vote.3, "Myocardial infarction", "two of three, plural merged");
    assert_eq!(vote.2[0].votes, 2);
    assert!((vote.2[0].confidence - 1.2).abs() < 1e-9);
    assert_eq!(vote.4, "majority: 2 of 3 vote(s)");
    // The vote's choice is what was judged.
    let verdict = episode.verdict.as_ref().unwrap();
    assert_eq!(verdict.diagnosis, "Myocardial infarction");
    assert!(verdict.correct);
    // Round two shows each member the others' opinions of round one.
    let round_two_generalist = requests
        .iter()
        .filter(|request| text_of(request).contains("you are the generalist"))
        .nth(1)
        .expect("a second round");
    assert!(text_of(round_two_generalist).contains("specialist: Cardiology."));
    // Panel members are never shown the answer.
    for request in by_role(&requests, "doctor") {
        assert!(!text_of(request).contains("ST-elevation"), "{}", text_of(request));
    }
}

const SAMPLES: &str = r#"
rules:
  - when: { role: doctor, last: "You have used all" }
    index: call
    replies: ["DIAGNOSIS READY: Pseudogout", "DIAGNOSIS READY: pseudogout", "DIAGNOSIS READY: Septic arthritis"]
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "Which joint hurts?"
      - "DIAGNOSIS READY: Gout"
  - when: { role: patient }
    reply: "My big toe, since last night."
  - when: { role: judge, system: "You check diagnoses" }
    reply: "2"
  - when: { role: judge }
    reply: "No"
"#;

#[tokio::test]
async fn self_consistency_samples_and_votes() {
    let (episode, requests) = episode(SAMPLES, "rheum-01", "self-consistency:k=3:temperature=0.9").await;
    let vote = kinds(&episode)
        .into_iter()
        .find_map(|kind| match kind {
            EventKind::Vote { method, tallies, chosen, .. } => Some((method.clone(), tallies.clone(), chosen.clone())),
            _ => None,
        })
        .expect("a vote");
    assert_eq!(vote.0, "self-consistency");
    assert_eq!(vote.2, "Pseudogout");
    assert_eq!(vote.1.iter().map(|tally| tally.votes).collect::<Vec<_>>(), [2, 1]);
    // Two extra samples at the asked temperature, each with its own seed.
    let samples: Vec<&RecordedRequest> =
        requests.iter().filter(|request| text_of(request).contains("You have used all")).collect();
    assert_eq!(samples.len(), 2);
    assert!(samples.iter().all(|request| request.body["temperature"].as_f64() == Some(0.9)));
    assert_ne!(samples[0].body["seed"], samples[1].body["seed"]);
}

#[tokio::test]
async fn best_of_n_takes_the_verifiers_choice_without_the_answer() {
    let script = SAMPLES.replace(
        r#"replies: ["DIAGNOSIS READY: Pseudogout", "DIAGNOSIS READY: pseudogout", "DIAGNOSIS READY: Septic arthritis"]"#,
        r#"replies: ["DIAGNOSIS READY: Septic arthritis", "DIAGNOSIS READY: Pseudogout"]"#,
    );
    let script = script.replace(
        "  - when: { role: judge, system: \"You check diagnoses\" }\n    reply: \"2\"",
        "  - when: { role: judge, system: \"You check diagnoses\", last: \"Candidate diagnosis: Septic\" }\n    reply: \"9\"\n  - when: { role: judge, system: \"You check diagnoses\" }\n    reply: \"4\"",
    );
    let (episode, requests) = episode(&script, "rheum-01", "best-of:n=3").await;
    let chosen = kinds(&episode)
        .into_iter()
        .find_map(|kind| match kind {
            EventKind::Vote { method, chosen, tallies, .. } => Some((method.clone(), chosen.clone(), tallies.clone())),
            _ => None,
        })
        .expect("a vote");
    assert_eq!(chosen.0, "best-of");
    assert_eq!(chosen.1, "Septic arthritis", "{:?}", chosen.2);
    assert_eq!(chosen.2[0].score, Some(9.0));
    let verifier: Vec<&RecordedRequest> =
        requests.iter().filter(|request| text_of(request).contains("You check diagnoses")).collect();
    assert_eq!(verifier.len(), 3, "one score per candidate (Gout, Pseudogout, Septic arthritis)");
    for request in verifier {
        assert!(!text_of(request).contains("Acute gout"), "the verifier is not given the answer");
    }
}

const DXO: &str = r#"
rules:
  - when: { role: doctor, last: "You are the hypothesis keeper" }
    index: call
    replies:
      - '{"differential": [{"diagnosis": "Acute pancreatitis", "probability": 0.5}, {"diagnosis": "Biliary colic", "probability": 0.3}]}'
      - '{"differential": [{"diagnosis": "Acute pancreatitis", "probability": 0.6}, {"diagnosis": "Biliary colic", "probability": 0.2}]}'
      - '{"differential": [{"diagnosis": "Acute gallstone pancreatitis", "probability": 0.85}, {"diagnosis": "Alcoholic pancreatitis", "probability": 0.1}]}'
  - when: { role: doctor, last: "You are the test chooser" }
    reply: '{"tests": ["Serum lipase", "CT abdomen", "Serum lipase"], "question": "How much alcohol do you drink?"}'
  - when: { role: doctor, last: "You are the challenger" }
    reply: '{"against": "none", "alternative": "Perforated peptic ulcer", "test": "Liver function tests"}'
  - when: { role: doctor, last: "You are the steward" }
    reply: '{"decisions": [{"test": "CT abdomen", "action": "{{STEWARD}}", "replacement": "", "reason": "the lipase answers it first"}]}'
  - when: { role: patient }
    reply: "A glass of wine a month, no more."
  - when: { role: judge }
    reply: "Yes"
"#;

async fn dxo_episode(steward: &str, config: EpisodeConfig) -> (Episode, Vec<RecordedRequest>) {
    dxo_episode_with(&DXO.replace("{{STEWARD}}", steward), config).await
}

/// gi-01 with the orchestrator doctor against `script`.
async fn dxo_episode_with(script: &str, config: EpisodeConfig) -> (Episode, Vec<RecordedRequest>) {
    let server = serve(script).await;
    let case = case("gi-01");
    let factory = factory(&server.openai_base());
    let mut setup = setup(&factory, &case, "baseline", None);
    let base = ModelDoctor {
        seat: setup.doctor_seat.clone(),
        prompts: setup.prompts.clone(),
        bias: None,
        protocol: Protocol::Tools,
    };
    let settings = Strategies::parse("dxo").unwrap().dxo.unwrap();
    setup.actors.doctor = Arc::new(medsim_agents::orchestrator::DxoDoctor::new(base, settings));
    let episode = run_episode(&case, &[], &setup.actors, &config, None).await;
    let requests = server.requests();
    server.shutdown().await;
    (episode, requests)
}

fn deliberations(episode: &Episode) -> Vec<(String, Vec<String>, Vec<medsim_core::transcript::Removal>)> {
    kinds(episode)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::Deliberation { decision, ordered, removed, .. } => {
                Some((decision.clone(), ordered.clone(), removed.clone()))
            }
            _ => None,
        })
        .collect()
}

fn orders(episode: &Episode) -> Vec<Vec<String>> {
    kinds(episode)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::TestOrder { tests, .. } => Some(tests.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_orchestrator_deliberates_and_the_stewards_veto_changes_the_order() {
    let (episode, requests) = dxo_episode("veto", EpisodeConfig::default()).await;
    let decided = deliberations(&episode);
    let decisions: Vec<&str> = decided.iter().map(|(decision, _, _)| decision.as_str()).collect();
    assert_eq!(decisions, ["ask", "order", "diagnose"], "history first, then tests, then the diagnosis at 85 %");
    // Turn 2: the chooser's lipase (once: the checklist drops the repeat), the challenger's
    // disconfirming test; the CT the steward vetoed is not ordered.
    assert_eq!(orders(&episode), [vec!["Serum lipase".to_owned(), "Liver function tests".to_owned()]]);
    let proposed = kinds(&episode)
        .into_iter()
        .find_map(|kind| match kind {
            EventKind::Deliberation { proposed, decision, .. } if decision == "order" => Some(proposed.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        proposed,
        ["Serum lipase", "Liver function tests", "CT abdomen", "Serum lipase"],
        "each member's first pick first"
    );
    let removed = &decided[1].2;
    assert!(
        removed.iter().any(|removal| removal.test == "CT abdomen"
            && removal.by == "steward"
            && removal.reason == "the lipase answers it first"),
        "{removed:?}"
    );
    assert!(removed.iter().any(|removal| removal.test == "Serum lipase" && removal.by == "checklist"), "{removed:?}");
    // Every member spoke in the ordering turn, each as an opinion of its own.
    let stances: Vec<String> = kinds(&episode)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::Opinion { turn: 2, stance, .. } => Some(stance.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stances, ["hypothesis-keeper", "test-chooser", "challenger", "steward"]);
    let verdict = episode.verdict.as_ref().unwrap();
    assert_eq!(verdict.diagnosis, "Acute gallstone pancreatitis");
    assert!(verdict.correct);
    // The team's words stay with the doctor; the team is never shown the answer.
    others_never_see(&requests, "Perforated peptic ulcer");
    others_never_see(&requests, "lipase answers it first");
    for request in by_role(&requests, "doctor") {
        assert!(!text_of(request).to_lowercase().contains("gallstone pancreatitis"), "{}", text_of(request));
    }
    // The steward was shown each candidate's price.
    let steward = requests.iter().find(|request| text_of(request).contains("You are the steward")).unwrap();
    assert!(text_of(steward).contains("CT abdomen ($300)"), "{}", text_of(steward));
    // The members of a turn share one system prompt (the consultation), so a prefix cache reads
    // it once; only their instructions differ.
    let team: Vec<&RecordedRequest> = by_role(&requests, "doctor");
    let keeper_of_turn_two = team[3];
    assert!(text_of(keeper_of_turn_two).contains("You are the hypothesis keeper"));
    assert_eq!(keeper_of_turn_two.body["messages"][0], steward.body["messages"][0]);

    // Had the steward kept the CT, it would have been ordered: the veto is what changed the order.
    let (episode, _) = dxo_episode("keep", EpisodeConfig::default()).await;
    assert_eq!(
        orders(&episode),
        [vec!["Serum lipase".to_owned(), "Liver function tests".to_owned(), "CT abdomen".to_owned()]]
    );
}

#[tokio::test]
async fn the_orchestrator_hears_the_patient_before_its_confidence_counts() {
    // A keeper sure of itself from the presentation alone: the team still asks first.
    let script = DXO.replace(
        "0.5}, {\"diagnosis\": \"Biliary colic\", \"probability\": 0.3",
        "0.9}, {\"diagnosis\": \"Biliary colic\", \"probability\": 0.05",
    );
    assert_ne!(script, DXO);
    let (episode, _) = dxo_episode_with(&script.replace("{{STEWARD}}", "keep"), EpisodeConfig::default()).await;
    let decisions: Vec<String> = deliberations(&episode).into_iter().map(|(decision, _, _)| decision).collect();
    assert_eq!(decisions[0], "ask", "at 90 % before any question, the team asks: {decisions:?}");
}

#[tokio::test]
async fn the_orchestrator_orders_only_what_the_budget_allows() {
    let prices = Arc::new(medsim_core::prices::PriceTable::builtin());
    // $150 a case: the visit ($130) leaves $20, enough for the lipase ($7) and the liver panel ($8).
    let config = EpisodeConfig { prices: Some(prices), budget: Some(150.0), ..EpisodeConfig::default() };
    let (episode, requests) = dxo_episode("keep", config).await;
    assert_eq!(orders(&episode), [vec!["Serum lipase".to_owned(), "Liver function tests".to_owned()]]);
    let removed = &deliberations(&episode)[1].2;
    assert!(
        removed.iter().any(|removal| removal.test == "CT abdomen" && removal.by == "budget"),
        "the steward kept the CT, the budget did not: {removed:?}"
    );
    // Nothing reached the engine's own refusal: the orchestrator kept within the budget itself.
    assert!(!kinds(&episode).iter().any(|kind| matches!(kind, EventKind::OrderRefused { .. })));
    assert_eq!(episode.care_cost, 145.0);
    let steward = requests.iter().find(|request| text_of(request).contains("You are the steward")).unwrap();
    assert!(text_of(steward).contains("$20 left"), "{}", text_of(steward));
}
