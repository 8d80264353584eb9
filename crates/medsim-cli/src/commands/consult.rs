//! `medsim consult`, `medsim play` and `medsim measure`: one consultation in the terminal, with
//! models, a person in one seat, or just the measurement agent.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Result;
use medsim_agents::{ChannelSeat, DoctorView, PatientView};
use medsim_core::case::Case;
use medsim_core::measure::{GroundedMeasurement, render_results};
use medsim_core::transcript::{Event, EventKind, RoleName};
use medsim_core::{Dataset, LoadOptions};
use medsim_engine::assemble::{Assembler, Outside};
use medsim_engine::{case_images, run_episode};

use super::print_json;
use crate::cli::{CacheArgs, ConsultArgs, Seat};
use crate::context::{Context, Session};
use crate::datasets::DatasetStore;
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

/// The session and actors' assembler for one consultation of `case`.
/// The session and actors' assembler for one consultation of `case`; `outside` is the seat a
/// person takes (no model is loaded for it).
fn assemble(
    args: &ConsultArgs,
    ctx: &Context,
    dataset: &Dataset,
    case: &Case,
    outside: Option<RoleName>,
) -> Result<(Session, Assembler)> {
    let setup = args.setup.to_setup();
    let session = ctx.session_with(&setup, &CacheArgs::default(), outside)?;
    let (assembler, _) = session.evaluation_assembler(ctx, &setup, dataset, std::slice::from_ref(case))?;
    Ok((session, assembler))
}

/// `medsim consult`: one episode with models in every seat, printed as it happens.
pub fn consult(args: ConsultArgs, ctx: &Context) -> Result<Exit> {
    let dataset = ctx.store.load(&args.dataset, LoadOptions::default())?;
    let case = find_case(&dataset, &args.case)?;
    let (session, assembler) = assemble(&args, ctx, &dataset, &case, None)?;
    let config = assembler.config.clone();
    session.runtime.block_on(async {
        let built = assembler.actors(&case, None, None)?;
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
        let episode = run_episode(&case, &images, &built.actors, &config, Some(sender)).await;
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
pub fn play(seat: Seat, args: ConsultArgs, ctx: &Context) -> Result<Exit> {
    let dataset = ctx.store.load(&args.dataset, LoadOptions::default())?;
    let case = find_case(&dataset, &args.case)?;
    let person = match seat {
        Seat::Doctor => RoleName::Doctor,
        Seat::Patient => RoleName::Patient,
    };
    let (session, assembler) = assemble(&args, ctx, &dataset, &case, Some(person))?;
    let config = assembler.config.clone();
    session.runtime.block_on(async {
        let (doctor_seat, mut doctor_requests) = ChannelSeat::<DoctorView>::new("human", 1);
        let (patient_seat, mut patient_requests) = ChannelSeat::<PatientView>::new("human", 1);
        let outside = match seat {
            Seat::Doctor => Outside::Doctor(Arc::new(doctor_seat)),
            Seat::Patient => Outside::Patient(Arc::new(patient_seat)),
        };
        let built = assembler.actors(&case, None, Some(outside))?;
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
        let episode = run_episode(&case, &images, &built.actors, &config, Some(sender)).await;
        let _ = printer.await;
        terminal.abort();
        if let Some(path) = &args.save {
            std::fs::write(path, serde_json::to_string_pretty(&episode)?)?;
            eprintln!("transcript saved to {}", path.display());
        }
        Ok(if episode.error.is_some() { Exit::Failure } else { Exit::Ok })
    })
}
