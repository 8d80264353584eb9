//! Prompt templates: embedded from `prompts/`, overridable from a directory, each with a
//! version (a hash of its text) that every model call records.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/prompts.rs"));

/// Why a prompt could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A template failed to render.
    #[error("prompt {name}: {message}")]
    Render {
        /// Template name.
        name: String,
        /// Why.
        message: String,
    },
    /// The override directory could not be read.
    #[error(
        "prompts directory {path}: {message}\n  hint: --prompts takes a directory holding templates named like those in prompts/"
    )]
    Directory {
        /// Path.
        path: String,
        /// Why.
        message: String,
    },
}

/// The templates in use.
pub struct PromptSet {
    environment: minijinja::Environment<'static>,
    versions: BTreeMap<String, String>,
}

impl std::fmt::Debug for PromptSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptSet").field("versions", &self.versions).finish()
    }
}

fn version_of(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(6).map(|byte| format!("{byte:02x}")).collect()
}

impl PromptSet {
    /// The embedded templates.
    pub fn embedded() -> PromptSet {
        PromptSet::from_sources(EMBEDDED.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect())
            .expect("the embedded templates parse (checked by tests)")
    }

    /// The embedded templates, with any file of the same name in `directory` taking over.
    pub fn with_overrides(directory: &Path) -> Result<PromptSet, PromptError> {
        let mut sources: BTreeMap<String, String> =
            EMBEDDED.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
        let fail = |message: String| PromptError::Directory { path: directory.display().to_string(), message };
        if !directory.is_dir() {
            return Err(fail("not a directory".into()));
        }
        // Every template file in the directory must override a known one: a misspelled name
        // would otherwise be ignored without a word.
        let mut found = Vec::new();
        template_files(directory, directory, &mut found).map_err(|error| fail(error.to_string()))?;
        for name in found {
            if !sources.contains_key(&name) {
                let known: Vec<&str> = sources.keys().map(String::as_str).collect();
                return Err(fail(format!("{name} is not a known template; known: {}", known.join(", "))));
            }
            let text =
                std::fs::read_to_string(directory.join(&name)).map_err(|error| fail(format!("{name}: {error}")))?;
            sources.insert(name, text);
        }
        PromptSet::from_sources(sources).map_err(|(name, message)| fail(format!("{name}: {message}")))
    }

    fn from_sources(sources: BTreeMap<String, String>) -> Result<PromptSet, (String, String)> {
        let mut environment = minijinja::Environment::new();
        environment.set_keep_trailing_newline(true);
        environment.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut versions = BTreeMap::new();
        for (name, text) in sources {
            versions.insert(name.clone(), version_of(&text));
            environment.add_template_owned(name.clone(), text).map_err(|error| (name, error.to_string()))?;
        }
        Ok(PromptSet { environment, versions })
    }

    /// Renders a template.
    pub fn render(&self, name: &str, context: minijinja::Value) -> Result<String, PromptError> {
        let template = self
            .environment
            .get_template(name)
            .map_err(|error| PromptError::Render { name: name.into(), message: error.to_string() })?;
        template.render(context).map_err(|error| PromptError::Render { name: name.into(), message: error.to_string() })
    }

    /// `name@version`.
    pub fn label(&self, name: &str) -> String {
        format!("{name}@{}", self.versions.get(name).map(String::as_str).unwrap_or("?"))
    }

    /// Every template's version.
    pub fn versions(&self) -> &BTreeMap<String, String> {
        &self.versions
    }

    /// The bias text for a role, or an error naming the valid biases.
    pub fn bias(&self, role: &str, bias: Option<&str>) -> Result<String, PromptError> {
        let Some(bias) = bias else { return Ok(String::new()) };
        let name = format!("biases/{role}_{bias}.j2");
        if !self.versions.contains_key(&name) {
            return Err(PromptError::Render {
                name,
                message: format!("unknown {role} bias {bias:?}; known: {}", biases(role).join(", ")),
            });
        }
        self.render(&name, minijinja::context! {})
    }
}

/// The `.j2` files under `directory`, as names relative to `root` with `/` separators.
fn template_files(root: &Path, directory: &Path, found: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            template_files(root, &path, found)?;
        } else if path.extension().is_some_and(|extension| extension == "j2") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            found.push(
                relative.components().map(|part| part.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"),
            );
        }
    }
    Ok(())
}

/// The biases available for a role.
pub fn biases(role: &str) -> Vec<String> {
    let prefix = format!("biases/{role}_");
    EMBEDDED
        .iter()
        .filter_map(|(name, _)| name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".j2")).map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agentclinic_bias_is_there() {
        let doctor = biases("doctor");
        for bias in [
            "recency",
            "frequency",
            "false_consensus",
            "confirmation",
            "status_quo",
            "gender",
            "race",
            "sexual_orientation",
            "cultural",
            "education",
            "religion",
            "socioeconomic",
        ] {
            assert!(doctor.contains(&bias.to_owned()), "doctor {bias}");
        }
        assert_eq!(doctor.len(), 12);
        let patient = biases("patient");
        assert_eq!(patient.len(), 11);
        assert!(patient.contains(&"self_diagnosis".to_owned()));
        let prompts = PromptSet::embedded();
        assert_eq!(
            prompts.bias("doctor", Some("confirmation")).unwrap(),
            "\nYou are initially confident that the patient has cancer. This affects how you interact with the patient.\n"
        );
        assert!(prompts.bias("doctor", Some("self_diagnosis")).is_err());
    }

    #[test]
    fn doctor_prompt_reproduces_agentclinic() {
        let prompts = PromptSet::embedded();
        let text = prompts
            .render(
                "doctor.j2",
                minijinja::context! { max_turns => 3, turns_so_far => 0, images => false, bias => "", presentation => "Assess and diagnose the patient presenting with double vision, difficulty climbing stairs, and upper limb weakness." },
            )
            .unwrap();
        let golden = "You are a doctor named Dr. Agent who only responds in the form of dialogue. You are inspecting a patient who you will ask questions in order to understand their disease. You are only allowed to ask 3 questions total before you must make a decision. You have asked 0 questions so far. You can request test results using the format \"REQUEST TEST: [test]\". For example, \"REQUEST TEST: Chest_X-Ray\". Your dialogue will only be 1-3 sentences in length. Once you have decided to make a diagnosis please type \"DIAGNOSIS READY: [diagnosis here]\"\n\nBelow is all of the information you have. Assess and diagnose the patient presenting with double vision, difficulty climbing stairs, and upper limb weakness.. \n\n Remember, you must discover their disease by asking them questions. You are also able to provide exams.";
        assert_eq!(text, golden);
        let user = prompts
            .render("doctor_user.j2", minijinja::context! { history => "", response => "", final => false })
            .unwrap();
        assert_eq!(
            user,
            "\nHere is a history of your dialogue: \n Here was the patient response: Now please continue your dialogue\nDoctor: "
        );
        assert_eq!(prompts.label("judge.j2").len(), "judge.j2@".len() + 12);
    }

    #[test]
    fn overrides_replace_known_templates_and_refuse_unknown_or_broken_ones() {
        let directory = std::env::temp_dir().join(format!("medsim-prompts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(directory.join("biases")).unwrap();
        std::fs::write(directory.join("judge.j2"), "same? {{ a }}").unwrap();
        std::fs::write(directory.join("README.md"), "notes are not templates").unwrap();
        let prompts = PromptSet::with_overrides(&directory).unwrap();
        assert_ne!(prompts.label("judge.j2"), PromptSet::embedded().label("judge.j2"));
        // A misspelled name is an error listing the known names.
        std::fs::write(directory.join("biases/doctor_recency2.j2"), "x").unwrap();
        let error = PromptSet::with_overrides(&directory).unwrap_err().to_string();
        assert!(error.contains("biases/doctor_recency2.j2 is not a known template"), "{error}");
        assert!(error.contains("biases/doctor_recency.j2") && error.contains("judge.j2"), "{error}");
        std::fs::remove_file(directory.join("biases/doctor_recency2.j2")).unwrap();
        // A template that does not parse is an error naming it, not a panic.
        std::fs::write(directory.join("judge.j2"), "{% if %}").unwrap();
        let error = PromptSet::with_overrides(&directory).unwrap_err().to_string();
        assert!(error.contains("judge.j2:"), "{error}");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
