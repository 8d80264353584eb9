//! `medsim models …`

use std::path::Path;

use anyhow::Result;

use crate::cli::ModelsCommand;
use crate::{BadInput, Exit};

#[cfg(not(feature = "local"))]
pub fn run(_command: ModelsCommand, _data_dir: &Path, _offline: bool) -> Result<Exit> {
    Err(BadInput("this medsim was built without local models (the `local` feature)".into()).into())
}

#[cfg(feature = "local")]
pub fn run(command: ModelsCommand, data_dir: &Path, offline: bool) -> Result<Exit> {
    use medsim_local::pull::{self, PullSource};
    use serde_json::json;

    use super::print_json;
    use crate::output::Table;
    use medsim_local::registry::{self, ModelKind};

    let find = |name: &str| {
        registry::find(name).ok_or_else(|| {
            let names: Vec<&str> = registry::known_models().iter().map(|model| model.name).collect();
            BadInput(format!("no known model {name:?}\n  hint: known models: {}", names.join(", ")))
        })
    };
    match command {
        ModelsCommand::List { json } => {
            let rows: Vec<_> = registry::known_models()
                .iter()
                .map(|model| {
                    json!({
                        "name": model.name,
                        "kind": match model.kind { ModelKind::Chat => "chat", ModelKind::Embedder => "embedder" },
                        "size_bytes": model.size,
                        "installed": pull::is_installed(data_dir, model),
                        "path": pull::install_dir(data_dir, model),
                        "license": model.license,
                        "description": model.description,
                        "default": model.name == registry::DEFAULT_CHAT_MODEL || model.name == registry::DEFAULT_EMBEDDER,
                    })
                })
                .collect();
            if json {
                print_json(&rows)?;
            } else {
                let mut table = Table::new(&[
                    ("NAME", 0),
                    ("KIND", 0),
                    ("SIZE", 0),
                    ("INSTALLED", 0),
                    ("LICENCE", 0),
                    ("DESCRIPTION", 70),
                ]);
                for row in &rows {
                    table.row(vec![
                        row["name"].as_str().unwrap_or_default().to_owned(),
                        row["kind"].as_str().unwrap_or_default().to_owned(),
                        format!("{} MB", row["size_bytes"].as_u64().unwrap_or(0) / 1_000_000),
                        if row["installed"] == true { "yes" } else { "no" }.to_owned(),
                        row["license"].as_str().unwrap_or_default().to_owned(),
                        row["description"].as_str().unwrap_or_default().to_owned(),
                    ]);
                }
                print!("{}", table.render());
                println!("Any GGUF file can also be used as local/PATH.gguf.");
            }
            Ok(Exit::Ok)
        }
        ModelsCommand::Pull { names, from, index_url, force } => {
            let models: Vec<_> = if names.is_empty() {
                vec![find(registry::DEFAULT_CHAT_MODEL)?, find(registry::DEFAULT_EMBEDDER)?]
            } else {
                names.iter().map(|name| find(name)).collect::<Result<_, _>>()?
            };
            if offline && from.is_none() {
                return Err(BadInput("--offline is set: pass --from DIR with the wheels".into()).into());
            }
            let source = PullSource::new(index_url, from);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            for model in models {
                if !force && pull::is_installed(data_dir, model) {
                    println!("{} is already installed at {}", model.name, pull::install_dir(data_dir, model).display());
                    continue;
                }
                runtime.block_on(crate::local::pull(model, data_dir, &source))?;
                println!("{} installed at {}", model.name, pull::install_dir(data_dir, model).display());
            }
            Ok(Exit::Ok)
        }
        ModelsCommand::Path { name } => {
            let model = find(&name)?;
            let directory = pull::install_dir(data_dir, model);
            match model.kind {
                ModelKind::Chat => println!("{}", directory.join(registry::GGUF_FILE).display()),
                ModelKind::Embedder => println!("{}", directory.display()),
            }
            Ok(Exit::Ok)
        }
        ModelsCommand::Remove { name } => {
            let model = find(&name)?;
            if pull::remove(data_dir, model)? {
                println!("removed {}", model.name);
            } else {
                println!("{} was not installed", model.name);
            }
            Ok(Exit::Ok)
        }
    }
}
