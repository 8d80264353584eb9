//! Named datasets: the public AgentClinic files, pinned to one upstream commit and checksum.
//!
//! Only the names, addresses and checksums live here; downloading is the command line's job, so
//! this crate stays free of network code.

/// The upstream repository commit every AgentClinic file is pinned to.
pub const AGENTCLINIC_COMMIT: &str = "b6570edefb940857a7c334350656b29f9d984f24";

/// Where the pinned files are served from by default.
pub const AGENTCLINIC_BASE_URL: &str =
    "https://raw.githubusercontent.com/SamuelSchmidgall/AgentClinic/b6570edefb940857a7c334350656b29f9d984f24";

/// A dataset that can be fetched by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisteredDataset {
    /// The name used on the command line.
    pub name: &'static str,
    /// The upstream file name (also the name in the cache directory).
    pub file: &'static str,
    /// Hex SHA-256 of the file.
    pub sha256: &'static str,
    /// Number of cases in the file.
    pub cases: usize,
    /// One line about the dataset.
    pub description: &'static str,
    /// Terms the data comes under.
    pub license: &'static str,
}

impl RegisteredDataset {
    /// The default download address.
    pub fn url(&self) -> String {
        format!("{AGENTCLINIC_BASE_URL}/{}", self.file)
    }
}

const DATASETS: &[RegisteredDataset] = &[
    RegisteredDataset {
        name: "agentclinic-medqa",
        file: "agentclinic_medqa.jsonl",
        sha256: "d91038a2984f21bb1d43edd88c7958d090ef42ba80f5be487b22b903bf3a35ea",
        cases: 107,
        description: "AgentClinic-MedQA: OSCE cases expanded from USMLE-style MedQA questions",
        license: "MIT (AgentClinic repository); MedQA source under its own terms",
    },
    RegisteredDataset {
        name: "agentclinic-medqa-extended",
        file: "agentclinic_medqa_extended.jsonl",
        sha256: "54a024eb2705c6c55d1988766adf4ab02ea7bbe2a28f843107b740032200f232",
        cases: 214,
        description: "AgentClinic-MedQA extended: 214 OSCE cases",
        license: "MIT (AgentClinic repository); MedQA source under its own terms",
    },
    RegisteredDataset {
        name: "agentclinic-nejm",
        file: "agentclinic_nejm.jsonl",
        sha256: "22ac74ed6e0efd9d280e4e4c53918d7446ea4a4d56816bbb364ae87812b8ea71",
        cases: 15,
        description: "AgentClinic-NEJM: NEJM Image Challenge cases with images and answer options",
        license: "MIT (AgentClinic repository); NEJM content under NEJM's copyright",
    },
    RegisteredDataset {
        name: "agentclinic-nejm-extended",
        file: "agentclinic_nejm_extended.jsonl",
        sha256: "d945305ee17ee1456053fbfe2e9d9c5e8b27d14538bf48ab8ace7306dc437b85",
        cases: 120,
        description: "AgentClinic-NEJM extended: 120 image cases with specialty types",
        license: "MIT (AgentClinic repository); NEJM content under NEJM's copyright",
    },
];

/// Every registered dataset.
pub fn registered() -> &'static [RegisteredDataset] {
    DATASETS
}

/// The registered dataset with this name.
pub fn find(name: &str) -> Option<&'static RegisteredDataset> {
    DATASETS.iter().find(|dataset| dataset.name == name)
}
