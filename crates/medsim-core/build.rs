//! Embeds every file under `builtin/images/` so built-in cases can send their images to a model.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("builtin/images");
    println!("cargo:rerun-if-changed=builtin");
    let mut names: Vec<String> = std::fs::read_dir(&directory)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().is_file())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = String::from("/// Built-in images by their path relative to the built-in directory.\n");
    code.push_str("static BUILTIN_IMAGES: &[(&str, &[u8])] = &[\n");
    for name in names {
        let path = directory.join(&name);
        writeln!(code, "    (\"images/{name}\", include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin_images.rs");
    std::fs::write(out, code).unwrap();
}
