//! `medsim cases …`

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use medsim_core::audit::{self, Audience};
use medsim_core::{Case, Dataset, LoadError, LoadOptions, PatientFacts};
use serde_json::json;

use super::print_json;
use crate::cli::{CasesCommand, LoadArgs, OutputFormat};
use crate::datasets::DatasetStore;
use crate::output::Table;
use crate::{BadInput, Exit};

pub fn run(command: CasesCommand, store: &DatasetStore) -> Result<Exit> {
    match command {
        CasesCommand::List(view) => list(&load_reporting(store, &view.dataset, &view.load)?, view.json),
        CasesCommand::Show { dataset, id, load, json } => show(&load_reporting(store, &dataset, &load)?, &id, json),
        CasesCommand::Validate { datasets, json } => validate(store, &datasets, json),
        CasesCommand::Stats { datasets, load, json } => {
            let loaded = datasets.iter().map(|spec| load_reporting(store, spec, &load)).collect::<Result<Vec<_>>>()?;
            stats(&loaded, json)
        }
        CasesCommand::Audit(view) => audit(&load_reporting(store, &view.dataset, &view.load)?, view.json),
        CasesCommand::Convert { dataset, output, format, load } => {
            let dataset = load_reporting(store, &dataset, &load)?;
            let format = match output.as_ref().and_then(|path| path.extension()).and_then(|ext| ext.to_str()) {
                Some("yaml" | "yml") => OutputFormat::Yaml,
                Some(_) => OutputFormat::Jsonl,
                None => format,
            };
            let text = convert(&dataset.cases, format)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {} cases to {}", dataset.cases.len(), path.display());
                }
                None => print!("{text}"),
            }
            Ok(Exit::Ok)
        }
        CasesCommand::Schema => {
            print!("{}", medsim_core::schema::case_schema_json());
            Ok(Exit::Ok)
        }
    }
}

/// Loads a dataset; with `--skip-invalid`, lists every rejected record on standard error.
fn load_reporting(store: &DatasetStore, spec: &str, load: &LoadArgs) -> Result<Dataset> {
    let dataset = store.load(spec, LoadOptions { skip_invalid: load.skip_invalid })?;
    if dataset.rejected_count > 0 {
        eprintln!("{}: skipped {} invalid record(s):", dataset.origin, dataset.rejected_count);
        for error in &dataset.rejected {
            eprintln!("  {}", error.headline());
        }
        if dataset.rejected_count > dataset.rejected.len() {
            eprintln!("  … and {} more", dataset.rejected_count - dataset.rejected.len());
        }
    }
    Ok(dataset)
}

fn list(dataset: &Dataset, json: bool) -> Result<Exit> {
    if json {
        let rows: Vec<_> = dataset
            .cases
            .iter()
            .map(|case| {
                json!({
                    "id": case.id,
                    "diagnosis": case.diagnosis,
                    "specialty": case.specialty,
                    "objective": case.objective,
                    "images": case.images.len(),
                    "options": case.options.len(),
                    "line": case.source.line,
                })
            })
            .collect();
        print_json(&rows)?;
        return Ok(Exit::Ok);
    }
    let mut table = Table::new(&[("ID", 0), ("SPECIALTY", 20), ("DIAGNOSIS", 40), ("OBJECTIVE", 70)]);
    for case in &dataset.cases {
        table.row(vec![case.id.clone(), case.specialty.join(", "), case.diagnosis.clone(), case.objective.clone()]);
    }
    print!("{}", table.render());
    println!("{} cases in {} ({})", dataset.cases.len(), dataset.name, dataset.format);
    Ok(Exit::Ok)
}

fn show(dataset: &Dataset, id: &str, json: bool) -> Result<Exit> {
    let Some(case) = dataset.case(id) else {
        let sample: Vec<&str> = dataset.cases.iter().take(5).map(|case| case.id.as_str()).collect();
        return Err(BadInput(format!(
            "no case {id:?} in {}\n  hint: ids look like {} (see `medsim cases list {}`)",
            dataset.name,
            sample.join(", "),
            dataset.name
        ))
        .into());
    };
    if json {
        print_json(&case.to_native_value())?;
    } else {
        print!("{}", render_case(case));
    }
    Ok(Exit::Ok)
}

/// Every field of a case as readable text.
pub fn render_case(case: &Case) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "id:         {}", case.id);
    let line = case.source.line.map(|line| format!(", line {line}")).unwrap_or_default();
    let _ = writeln!(out, "source:     {} ({}{line})", case.source.dataset, case.source.format);
    if !case.specialty.is_empty() {
        let _ = writeln!(out, "specialty:  {}", case.specialty.join(", "));
    }
    if !case.tags.is_empty() {
        let _ = writeln!(out, "tags:       {}", case.tags.join(", "));
    }
    let _ = writeln!(out, "\n## Objective (doctor)\n{}", case.objective);
    if let Some(question) = case.question.as_ref().filter(|question| **question != case.objective) {
        let _ = writeln!(out, "\n## Question\n{question}");
    }
    let patient = match &case.patient {
        PatientFacts::Structured(facts) => facts.render(),
        PatientFacts::Text(text) => text.clone(),
    };
    let _ = writeln!(out, "\n## Patient (patient actor)\n{patient}");
    let _ = writeln!(out, "\n## Examination (measurement actor)\n{}", or_none(case.exam.render()));
    let _ = writeln!(out, "\n## Tests (measurement actor)\n{}", or_none(case.tests.render()));
    if !case.images.is_empty() {
        let _ = writeln!(out, "\n## Images");
        for image in &case.images {
            let location = image.url.as_deref().or(image.path.as_deref()).unwrap_or_default();
            let modality = image.modality.as_deref().map(|modality| format!(" [{modality}]")).unwrap_or_default();
            let caption = image.caption.as_deref().map(|caption| format!(" — {caption}")).unwrap_or_default();
            let _ = writeln!(out, "- {location}{modality}{caption}");
        }
    }
    if !case.options.is_empty() {
        let _ = writeln!(out, "\n## Options");
        for option in &case.options {
            let _ = writeln!(out, "- [{}] {}", if option.correct { "x" } else { " " }, option.text);
        }
    }
    let _ = writeln!(out, "\n## Diagnosis (judge only)\n{}", case.diagnosis);
    if !case.diagnosis_aliases.is_empty() {
        let _ = writeln!(out, "aliases: {}", case.diagnosis_aliases.join("; "));
    }
    if !case.extra.is_empty() {
        let extra = serde_json::to_string_pretty(&case.extra).unwrap_or_default();
        let _ = writeln!(out, "\n## Other fields from the source\n{extra}");
    }
    out
}

fn or_none(text: String) -> String {
    if text.is_empty() { "(none)".to_owned() } else { text }
}

/// Errors `validate` prints per file; the rest are counted.
const SHOWN_ERRORS: usize = 50;

/// Checks every record of each dataset, streaming: only one record is in memory at a time.
fn validate(store: &DatasetStore, specs: &[String], json: bool) -> Result<Exit> {
    let mut reports = Vec::new();
    let mut any_invalid = false;
    for spec in specs {
        let mut valid = 0usize;
        let mut errors = Vec::new();
        let mut error_count = 0usize;
        let outcome = match store.locate(spec) {
            Err(error) => Err(error),
            Ok(located) => {
                let (reader, origin, name): (Box<dyn std::io::BufRead>, String, String) = match &located {
                    None => (
                        Box::new(std::io::Cursor::new(medsim_core::builtin::builtin_source().as_bytes())),
                        "builtin/cases.yaml".to_owned(),
                        medsim_core::builtin::BUILTIN.to_owned(),
                    ),
                    Some((path, name)) => {
                        let file =
                            std::fs::File::open(path).map_err(|source| LoadError::Io { path: path.clone(), source })?;
                        let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("cases").to_owned();
                        (
                            Box::new(std::io::BufReader::new(file)),
                            path.display().to_string(),
                            name.clone().unwrap_or(stem),
                        )
                    }
                };
                medsim_core::load::read_cases(reader, &origin, &name, &mut |result| {
                    match result {
                        Ok(_) => valid += 1,
                        Err(error) => {
                            error_count += 1;
                            if errors.len() < SHOWN_ERRORS {
                                errors.push(error);
                            }
                        }
                    }
                    Ok(())
                })
                .map(|read| (read, origin, name))
                .map_err(anyhow::Error::from)
            }
        };
        match outcome {
            Ok((read, origin, name)) if valid + error_count > 0 => {
                any_invalid |= error_count > 0;
                let format = read.format.map(|format| format.to_string()).unwrap_or_else(|| "unknown format".into());
                if !json {
                    if error_count == 0 {
                        println!("ok      {origin}: {valid} cases ({format})");
                    } else {
                        println!("invalid {origin}: {valid} valid, {error_count} rejected ({format})");
                        for error in &errors {
                            println!("  {}", error.to_string().replace('\n', "\n  "));
                        }
                        if error_count > errors.len() {
                            println!("  … and {} more rejected record(s)", error_count - errors.len());
                        }
                    }
                }
                reports.push(json!({
                    "dataset": name,
                    "origin": origin,
                    "format": read.format,
                    "sha256": read.sha256,
                    "cases": valid,
                    "rejected": error_count,
                    "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
                }));
            }
            outcome => {
                // A file that cannot be read at all (missing, binary, empty) is also invalid input.
                let error = match outcome {
                    Ok((_, origin, _)) => anyhow::Error::from(LoadError::Empty { origin }),
                    Err(error) => error,
                };
                let Some(load_error) = error.downcast_ref::<LoadError>() else { return Err(error) };
                any_invalid = true;
                if !json {
                    println!("invalid {spec}: {}", load_error.to_string().replace('\n', "\n  "));
                }
                reports.push(json!({ "dataset": spec, "cases": 0, "errors": [{ "message": load_error.to_string() }] }));
            }
        }
    }
    if json {
        print_json(&reports)?;
    }
    Ok(if any_invalid { Exit::BadInput } else { Exit::Ok })
}

fn error_json(error: &medsim_core::RecordError) -> serde_json::Value {
    json!({
        "origin": &*error.origin,
        "line": error.line,
        "field": error.field,
        "expected": error.expected,
        "found": error.found,
        "hint": error.hint,
        "message": error.headline(),
    })
}

fn stats(datasets: &[Dataset], json: bool) -> Result<Exit> {
    let mut rows = Vec::new();
    for dataset in datasets {
        let cases = &dataset.cases;
        let count = cases.len().max(1) as f64;
        let mut specialties: BTreeMap<&str, usize> = BTreeMap::new();
        let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
        for case in cases {
            for specialty in &case.specialty {
                *specialties.entry(specialty).or_default() += 1;
            }
            for tag in &case.tags {
                *tags.entry(tag).or_default() += 1;
            }
        }
        rows.push(json!({
            "dataset": dataset.name,
            "origin": dataset.origin,
            "format": dataset.format,
            "sha256": dataset.sha256,
            "cases": cases.len(),
            "errors": dataset.rejected.len(),
            "with_images": cases.iter().filter(|case| !case.images.is_empty()).count(),
            "with_options": cases.iter().filter(|case| !case.options.is_empty()).count(),
            "structured_patient": cases.iter().filter(|case| matches!(case.patient, PatientFacts::Structured(_))).count(),
            "mean_exam_results": round2(cases.iter().map(|case| case.exam.leaves().len()).sum::<usize>() as f64 / count),
            "mean_test_results": round2(cases.iter().map(|case| case.tests.leaves().len()).sum::<usize>() as f64 / count),
            "with_extra_fields": cases.iter().filter(|case| !case.extra.is_empty()).count(),
            "specialties": specialties,
            "tags": tags,
        }));
    }
    if json {
        print_json(&rows)?;
        return Ok(Exit::Ok);
    }
    let mut table = Table::new(&[
        ("DATASET", 0),
        ("FORMAT", 0),
        ("CASES", 0),
        ("ERRORS", 0),
        ("IMAGES", 0),
        ("OPTIONS", 0),
        ("EXAM/CASE", 0),
        ("TESTS/CASE", 0),
        ("SPECIALTIES / TAGS", 60),
    ]);
    for row in &rows {
        let specialties: Vec<String> = ["specialties", "tags"]
            .iter()
            .filter_map(|key| row[*key].as_object())
            .flat_map(|map| map.iter().map(|(name, count)| format!("{name} {count}")))
            .collect();
        let specialties = specialties.join(", ");
        table.row(vec![
            row["dataset"].as_str().unwrap_or_default().to_owned(),
            row["format"].as_str().unwrap_or_default().to_owned(),
            row["cases"].to_string(),
            row["errors"].to_string(),
            row["with_images"].to_string(),
            row["with_options"].to_string(),
            row["mean_exam_results"].to_string(),
            row["mean_test_results"].to_string(),
            if specialties.is_empty() { "-".to_owned() } else { specialties },
        ]);
    }
    print!("{}", table.render());
    Ok(Exit::Ok)
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn audit(dataset: &Dataset, json: bool) -> Result<Exit> {
    let all = audit::audit(&dataset.cases);
    let (leaks, possible): (Vec<_>, Vec<_>) = all.iter().partition(|leak| leak.kind == audit::LeakKind::Exact);
    let distinct = |leaks: &[&audit::Leak], keep: &dyn Fn(&audit::Leak) -> bool| {
        let ids: std::collections::BTreeSet<&str> =
            leaks.iter().filter(|leak| keep(leak)).map(|leak| leak.case_id.as_str()).collect();
        ids.len()
    };
    let exact_cases: std::collections::BTreeSet<&str> = leaks.iter().map(|leak| leak.case_id.as_str()).collect();
    let possible_only: std::collections::BTreeSet<&str> = possible
        .iter()
        .filter(|leak| leak.audience != Audience::Doctor && !exact_cases.contains(leak.case_id.as_str()))
        .map(|leak| leak.case_id.as_str())
        .collect();
    let summary = json!({
        "dataset": dataset.name,
        "cases": dataset.cases.len(),
        "leaking_cases": distinct(&leaks, &|_| true),
        "leaking_to_patient_or_measurement": distinct(&leaks, &|leak| leak.audience != Audience::Doctor),
        "by_audience": {
            "patient": distinct(&leaks, &|leak| leak.audience == Audience::Patient),
            "measurement": distinct(&leaks, &|leak| leak.audience == Audience::Measurement),
            "doctor": distinct(&leaks, &|leak| leak.audience == Audience::Doctor),
        },
        "possible_leak_cases": possible_only.len(),
    });
    if json {
        print_json(&json!({ "summary": summary, "leaks": all }))?;
    } else {
        if !all.is_empty() {
            let mut table = Table::new(&[
                ("CASE", 0),
                ("KIND", 0),
                ("SEEN BY", 0),
                ("FIELD", 50),
                ("DIAGNOSIS", 40),
                ("MATCHED", 40),
            ]);
            for leak in &all {
                table.row(vec![
                    leak.case_id.clone(),
                    match leak.kind {
                        audit::LeakKind::Exact => "exact".to_owned(),
                        audit::LeakKind::Possible => "possible".to_owned(),
                    },
                    leak.audience.name().to_owned(),
                    leak.field.clone(),
                    leak.diagnosis.clone(),
                    leak.matched.clone(),
                ]);
            }
            print!("{}", table.render());
        }
        println!(
            "{} of {} cases in {} name their diagnosis where another role can read it ({} to the patient or measurement agent: patient {}, measurement {}; doctor {}); {} more possibly, by another name or in other words (review them)",
            summary["leaking_cases"],
            dataset.cases.len(),
            dataset.name,
            summary["leaking_to_patient_or_measurement"],
            summary["by_audience"]["patient"],
            summary["by_audience"]["measurement"],
            summary["by_audience"]["doctor"],
            summary["possible_leak_cases"],
        );
    }
    Ok(if leaks.is_empty() { Exit::Ok } else { Exit::Findings })
}

/// The cases in medsim's own format.
pub fn convert(cases: &[Case], format: OutputFormat) -> Result<String> {
    let mut out = String::new();
    for (index, case) in cases.iter().enumerate() {
        match format {
            OutputFormat::Jsonl => {
                out.push_str(&serde_json::to_string(&case.to_native_value())?);
                out.push('\n');
            }
            OutputFormat::Yaml => {
                if index > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&serde_yaml_ng::to_string(&case.to_native_value())?);
            }
        }
    }
    Ok(out)
}
