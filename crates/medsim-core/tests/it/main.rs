//! Integration tests of the case library against the public AgentClinic files in `../shared/`.

mod audit;
mod measure;
mod never_panics;
mod shared_files;

use std::path::PathBuf;

/// `../shared/datasets/agentclinic/FILE`, beside the repository.
pub fn shared_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/agentclinic").join(name)
}
