//! `medsim consult`, `medsim play` and `medsim measure`: one consultation in the terminal, with
//! models, a person in one seat, or just the measurement agent.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Result;
use medsim_agents::prompts::PromptSet;
use medsim_agents::strategic::{MemoryAccess, StrategicDoctor};
use medsim_agents::strategy::Strategies;
use medsim_agents::{
    ChannelSeat, DoctorActor, DoctorView, GroundedMeasurementActor, Judge, MeasurementActor, ModelDoctor,
    ModelMeasurement, ModelPatient, ModelSeat, PatientActor, PatientView, Rendering, measurement_information,
    patient_facts,
};
use medsim_core::case::Case;
use medsim_core::measure::{GroundedMeasurement, render_results};
use medsim_core::transcript::{Event, EventKind, RoleName};
use medsim_core::{Dataset, LoadOptions};
use medsim_engine::{Actors, EpisodeConfig, Routing, case_images, run_episode};
use medsim_llm::ModelFactory;

use super::{Places, print_json};
use crate::cli::{CacheArgs, ConsultArgs, MeasurementMode, Seat, SetupArgs};
use crate::datasets::DatasetStore;
use crate::settings::Settings;
use crate::{BadInput, Exit};

pub fn find_case(dataset: &Dataset, id: &str) -> Result<Case> {
    dataset.case(id).cloned().ok_or_else(|| {
        let sample: Vec<&str> = dataset.cases.iter().take(5).map(|case| case.id.as_str()).collect();
        BadInput(format!("no case {id:?} in {}\n  hint: ids look like {}", dataset.name, sample.join(", "))).into()
    })
}

/// `medsim measure`.
pub fn measure(store: &DatasetStore, dataset: &str, case: &str, tests: &[String], json: bool) -> Result<Exit> {
    let dataset = store.load(dataset, LoadOptions::default())?;
    let case = find_case(&dataset, case)?;
    let results = GroundedMeasurement::new(&case).measure_all(tests);
    if json {
        print_json(&results)?;
    } else {
        println!("{}", render_results(&results));
    }
    Ok(Exit::Ok)
}

/// `medsim measure --eval FILE`: the grounded measurement agent against labelled requests.
pub fn measure_eval(store: &DatasetStore, file: &std::path::Path, json: bool) -> Result<Exit> {
    use medsim_core::measure_eval::{evaluate, parse_eval_file, render};
    let text =
        std::fs::read_to_string(file).map_err(|error| BadInput(format!("{}: cannot read: {error}", file.display())))?;
    let records = parse_eval_file(&text, &file.display().to_string()).map_err(|error| BadInput(error.to_string()))?;
    let mut datasets: std::collections::HashMap<String, medsim_core::Dataset> = std::collections::HashMap::new();
    let report = evaluate(&records, &mut |dataset, case| {
        if !datasets.contains_key(dataset) {
            let loaded = store.load(dataset, LoadOptions::default()).map_err(|error| format!("{error:#}"))?;
            datasets.insert(dataset.to_owned(), loaded);
        }
        datasets[dataset].case(case).cloned().ok_or_else(|| format!("no case {case:?} in {dataset}"))
    })
    .map_err(|error| BadInput(format!("{}: {error}", file.display())))?;
    if json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(Exit::Ok)
}

/// The seat a person takes, and the channel-backed actors for either seat.
type HumanSeat = (Seat, Arc<dyn DoctorActor>, Arc<dyn PatientActor>);

pub struct Built {
    pub actors: Actors,
    pub prompts: Arc<PromptSet>,
    /// The doctor's model seat (for reflection after the verdict), when a model plays it.
    pub doctor_seat: Option<ModelSeat>,
}

/// The doctor's strategies and its access to experience memory, set up once per command.
#[derive(Clone, Default)]
pub struct StrategySetup {
    pub strategies: Strategies,
    pub memory: Option<MemoryAccess>,
}

/// The prompt templates a setup asks for, with its biases checked. Loaded once per command,
/// not once per episode: parsing the templates is the costliest part of setting up actors.
pub fn load_prompts(setup: &SetupArgs) -> Result<Arc<PromptSet>> {
    let prompts = match &setup.prompts {
        Some(directory) => PromptSet::with_overrides(directory).map_err(|error| BadInput(error.to_string()))?,
        None => PromptSet::embedded(),
    };
    for (role, bias) in [("doctor", &setup.doctor_bias), ("patient", &setup.patient_bias)] {
        prompts.bias(role, bias.as_deref()).map_err(|error| BadInput(error.to_string()))?;
    }
    Ok(Arc::new(prompts))
}

/// The actors for one episode; `seed` is the episode's sampling seed and repeat index.
#[expect(clippy::too_many_arguments, reason = "one call site per command, each passing its own pieces")]
pub async fn build(
    setup: &SetupArgs,
    case: &Case,
    settings: &Settings,
    places: &Places,
    factory: &ModelFactory,
    prompts: Arc<PromptSet>,
    human: Option<HumanSeat>,
    seed: Option<(u64, u32)>,
    strategy: &StrategySetup,
) -> Result<Built> {
    let prices = Arc::new(settings.llm.price_table());
    let seat_for = async |role: RoleName| -> Result<ModelSeat> {
        let spec = settings.role_model_or_default(role.as_str(), &setup.roles).ok_or_else(|| {
            BadInput(format!(
                "no model for the {} (this medsim has no embedded model): pass --{}-model",
                role.as_str(),
                role.as_str()
            ))
        })?;
        crate::local::ensure_installed(&spec, &places.data_dir, places.offline).await?;
        let model = factory.model(&spec).map_err(|error| BadInput(error.to_string()))?;
        let mut seat = ModelSeat::new(model, role, prices.clone());
        if let Some((seed, repeat)) = seed {
            seat.seed = Some(seed);
            seat.sample_index = repeat;
        }
        Ok(seat)
    };
    let strict = setup.strict_agentclinic;
    let rendering = if strict { Rendering::AgentClinic } else { Rendering::Readable };
    let model_doctor = async || -> Result<(Arc<dyn DoctorActor>, ModelSeat)> {
        let seat = seat_for(RoleName::Doctor).await?;
        let base = ModelDoctor {
            seat: seat.clone(),
            prompts: prompts.clone(),
            bias: setup.doctor_bias.clone(),
            protocol: setup.protocol.into(),
        };
        if strategy.strategies.is_baseline() {
            let doctor: Arc<dyn DoctorActor> = Arc::new(base);
            return Ok((doctor, seat));
        }
        // Best-of-N's verifier is the judge's model, shown the transcript and a candidate only.
        let verifier = match strategy.strategies.best_of {
            Some(_) => Some(seat_for(RoleName::Judge).await?),
            None => None,
        };
        let doctor: Arc<dyn DoctorActor> =
            Arc::new(StrategicDoctor::new(base, strategy.strategies.clone(), strategy.memory.clone(), verifier));
        Ok((doctor, seat))
    };
    let model_patient = async || -> Result<Arc<dyn PatientActor>> {
        let patient: Arc<dyn PatientActor> = Arc::new(ModelPatient {
            seat: seat_for(RoleName::Patient).await?,
            prompts: prompts.clone(),
            bias: setup.patient_bias.clone(),
            facts: patient_facts(case, rendering),
            carer_note: !strict,
        });
        Ok(patient)
    };
    // A person may take one seat; models take the others.
    let (doctor, patient, doctor_seat) = match human {
        Some((Seat::Doctor, doctor, _)) => (doctor, model_patient().await?, None),
        Some((Seat::Patient, _, patient)) => {
            let (doctor, seat) = model_doctor().await?;
            (doctor, patient, Some(seat))
        }
        None => {
            let (doctor, seat) = model_doctor().await?;
            (doctor, model_patient().await?, Some(seat))
        }
    };
    let measurement: Arc<dyn MeasurementActor> = match setup.measurement {
        MeasurementMode::Grounded => Arc::new(GroundedMeasurementActor { grounded: GroundedMeasurement::new(case) }),
        MeasurementMode::Model => Arc::new(ModelMeasurement {
            seat: seat_for(RoleName::Measurement).await?,
            prompts: prompts.clone(),
            information: measurement_information(case, rendering),
        }),
    };
    let judge = Arc::new(Judge {
        seat: Some(seat_for(RoleName::Judge).await?),
        prompts: prompts.clone(),
        ground_truth: case.diagnosis.clone(),
        aliases: case.diagnosis_aliases.clone(),
        options: case.options.iter().map(|option| (option.text.clone(), option.correct)).collect(),
        strict,
    });
    Ok(Built { actors: Actors { doctor, patient, measurement, judge }, prompts, doctor_seat })
}

pub fn config(setup: &SetupArgs) -> EpisodeConfig {
    EpisodeConfig {
        max_turns: setup.max_turns,
        routing: if setup.strict_agentclinic { Routing::Strict } else { Routing::Tolerant },
        images: setup.images.into(),
        aids: medsim_engine::Aids::parse(&setup.aids).unwrap_or_default(),
    }
}

/// ANSI colour for a role, when standard output is a terminal and NO_COLOR is unset.
fn paint(text: &str, code: &str) -> String {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Prints one event as a line of transcript.
pub fn print_event(event: &Event) {
    let line = match &event.kind {
        EventKind::EpisodeStarted { case_id, objective } => paint(&format!("── case {case_id}: {objective}"), "1"),
        EventKind::Utterance { role, text, turn } => {
            let colour = if *role == RoleName::Doctor { "36" } else { "33" };
            format!("[{turn:>2}] {} {text}", paint(&format!("{:<8}", role.as_str()), colour))
        }
        EventKind::TestResults { text, .. } => format!("     results  {}", text.replace('\n', "\n              ")),
        EventKind::ImageRequest { sent, note, .. } => match note {
            Some(note) => format!("     images   {note}"),
            None => format!("     images   {sent} image(s) shown to the doctor"),
        },
        EventKind::Leak { matched, .. } => format!("     leak     the patient named the diagnosis ({matched})"),
        EventKind::Verdict { verdict } => paint(
            &format!(
                "── verdict: {} ({:?}) — diagnosis {:?}, correct answer {:?}; {}",
                if verdict.correct { "CORRECT" } else { "INCORRECT" },
                verdict.method,
                verdict.diagnosis,
                verdict.ground_truth,
                verdict.reason
            ),
            if verdict.correct { "32" } else { "31" },
        ),
        EventKind::Error { role, message } => format!("── error ({}): {message}", role.as_str()),
        EventKind::EpisodeEnded { stop_reason, turns } => format!("── ended: {stop_reason:?} after {turns} turn(s)"),
        _ => return,
    };
    println!("{line}");
}

/// `medsim consult`: one episode with models in every seat, printed as it happens.
pub fn consult(args: ConsultArgs, store: &DatasetStore, settings: &Settings, places: &Places) -> Result<Exit> {
    let dataset = store.load(&args.dataset, LoadOptions::default())?;
    let case = find_case(&dataset, &args.case)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let factory = settings.factory(&CacheArgs::default(), &places.cache_dir, &places.data_dir)?;
        let built = {
            let (strategy, _) = super::learn::evaluation_strategy(
                &args.setup,
                places,
                &factory,
                &dataset,
                std::slice::from_ref(&case),
                None,
            )
            .await?;
            build(&args.setup, &case, settings, places, &factory, load_prompts(&args.setup)?, None, None, &strategy)
                .await?
        };
        let images = case_images(&case, dataset.base_dir.as_deref());
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let json = args.json;
        let printer = tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                if !json {
                    print_event(&event);
                }
            }
        });
        let episode = run_episode(&case, &images, &built.actors, &config(&args.setup), Some(sender)).await;
        let _ = printer.await;
        if json {
            print_json(&serde_json::json!({ "episode": episode, "prompts": built.prompts.versions() }))?;
        }
        Ok(if episode.error.is_some() { Exit::Failure } else { Exit::Ok })
    })
}

fn read_line(prompt: &str) -> Option<String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
    }
}

/// `medsim play`: a person takes the doctor's or the patient's seat at the terminal.
pub fn play(seat: Seat, args: ConsultArgs, store: &DatasetStore, settings: &Settings, places: &Places) -> Result<Exit> {
    let dataset = store.load(&args.dataset, LoadOptions::default())?;
    let case = find_case(&dataset, &args.case)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let (doctor_seat, mut doctor_requests) = ChannelSeat::<DoctorView>::new("human", 1);
        let (patient_seat, mut patient_requests) = ChannelSeat::<PatientView>::new("human", 1);
        let human = (seat, Arc::new(doctor_seat) as Arc<dyn DoctorActor>, Arc::new(patient_seat) as Arc<dyn PatientActor>);
        let factory = settings.factory(&CacheArgs::default(), &places.cache_dir, &places.data_dir)?;
        let built =
            build(
                &args.setup,
                &case,
                settings,
                places,
                &factory,
                load_prompts(&args.setup)?,
                Some(human),
                None,
                &Default::default(),
            )
            .await?;
        match seat {
            Seat::Doctor => {
                println!("You are the doctor. {}", case.objective);
                println!("Ask questions; order tests with \"REQUEST TEST: name, name\"; \"REQUEST IMAGES\" for images; finish with \"DIAGNOSIS READY: diagnosis\".");
            }
            Seat::Patient => {
                println!("You are the patient. What you know:\n{}\nAnswer the doctor in 1-3 sentences; do not name a diagnosis.", case.patient.render());
            }
        }
        // The person answers on this thread of the runtime, reading standard input.
        let terminal = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some((view, reply)) = doctor_requests.recv() => {
                        if !view.response.is_empty() {
                            println!("{}", view.response);
                        }
                        if view.must_diagnose {
                            println!("(Your turns are used up: give your diagnosis.)");
                        }
                        let line = tokio::task::spawn_blocking(move || read_line(&format!("doctor [{}/{}]> ", view.turn.min(view.max_turns), view.max_turns))).await.ok().flatten();
                        match line {
                            Some(line) => { let _ = reply.send(line); }
                            None => break,
                        }
                    }
                    Some((view, reply)) = patient_requests.recv() => {
                        println!("doctor: {}", view.question);
                        let line = tokio::task::spawn_blocking(|| read_line("patient> ")).await.ok().flatten();
                        match line {
                            Some(line) => { let _ = reply.send(line); }
                            None => break,
                        }
                    }
                    else => break,
                }
            }
        });
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let printer = tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                if matches!(event.kind, EventKind::Verdict { .. } | EventKind::EpisodeEnded { .. } | EventKind::Error { .. }) {
                    print_event(&event);
                }
            }
        });
        let images = case_images(&case, dataset.base_dir.as_deref());
        let episode = run_episode(&case, &images, &built.actors, &config(&args.setup), Some(sender)).await;
        let _ = printer.await;
        terminal.abort();
        if let Some(path) = &args.save {
            std::fs::write(path, serde_json::to_string_pretty(&episode)?)?;
            eprintln!("transcript saved to {}", path.display());
        }
        Ok(if episode.error.is_some() { Exit::Failure } else { Exit::Ok })
    })
}
