//! Embeds every prompt template under the repository's `prompts/` directory.

use std::fmt::Write;
use std::path::Path;

fn collect(directory: &Path, prefix: &str, out: &mut Vec<(String, std::path::PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".j2") {
            out.push((format!("{prefix}{name}"), path));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut templates = Vec::new();
    collect(&root, "", &mut templates);
    templates.sort();
    let mut code = String::from("/// Embedded prompt templates by name.\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    for (name, path) in templates {
        writeln!(code, "    ({name:?}, include_str!({:?})),", path.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    std::fs::write(Path::new(&std::env::var("OUT_DIR").unwrap()).join("prompts.rs"), code).unwrap();
}
