//! `medsim datasets …`

use anyhow::Result;
use medsim_core::registry;
use serde_json::json;

use super::print_json;
use crate::cli::DatasetsCommand;
use crate::datasets::{DatasetStore, FetchOutcome};
use crate::output::Table;
use crate::{BadInput, Exit};

pub fn run(command: DatasetsCommand, store: &DatasetStore) -> Result<Exit> {
    match command {
        DatasetsCommand::List { json } => {
            let entries = registry::registered();
            if json {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|entry| {
                        json!({
                            "name": entry.name,
                            "cases": entry.cases,
                            "file": entry.file,
                            "sha256": entry.sha256,
                            "url": entry.url(),
                            "downloaded": store.path_of(entry).exists(),
                            "path": store.path_of(entry),
                            "description": entry.description,
                            "license": entry.license,
                        })
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                let mut table = Table::new(&[("NAME", 0), ("CASES", 0), ("DOWNLOADED", 0), ("DESCRIPTION", 0)]);
                table.row(vec![
                    "builtin".into(),
                    medsim_core::builtin::builtin().cases.len().to_string(),
                    "built in".into(),
                    "medsim's own demo cases".into(),
                ]);
                for entry in entries {
                    let downloaded = if store.path_of(entry).exists() { "yes" } else { "no" };
                    table.row(vec![
                        entry.name.into(),
                        entry.cases.to_string(),
                        downloaded.into(),
                        entry.description.into(),
                    ]);
                }
                print!("{}", table.render());
            }
            Ok(Exit::Ok)
        }
        DatasetsCommand::Fetch { names, all, from, force } => {
            let entries: Vec<_> = if all {
                registry::registered().iter().collect()
            } else {
                names
                    .iter()
                    .map(|name| {
                        registry::find(name).ok_or_else(|| {
                            BadInput(format!(
                                "no registered dataset named {name:?}\n  hint: `medsim datasets list` shows the names"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            for entry in entries {
                match store.fetch(entry, from.as_deref(), force)? {
                    FetchOutcome::Fetched { bytes } => {
                        println!(
                            "fetched {} ({bytes} bytes, sha256 verified) → {}",
                            entry.name,
                            store.path_of(entry).display()
                        )
                    }
                    FetchOutcome::AlreadyPresent => {
                        println!("{} already present and verified at {}", entry.name, store.path_of(entry).display())
                    }
                }
            }
            Ok(Exit::Ok)
        }
        DatasetsCommand::Path { name } => {
            let entry = registry::find(&name).ok_or_else(|| {
                BadInput(format!(
                    "no registered dataset named {name:?}\n  hint: `medsim datasets list` shows the names"
                ))
            })?;
            println!("{}", store.path_of(entry).display());
            Ok(Exit::Ok)
        }
    }
}
