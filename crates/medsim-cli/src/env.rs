//! Every environment variable medsim reads, declared in one place.

/// Overrides the cache directory (datasets, downloaded files).
pub const CACHE_DIR: &str = "MEDSIM_CACHE_DIR";
/// When set to a true value, medsim never uses the network.
pub const OFFLINE: &str = "MEDSIM_OFFLINE";
/// The settings file.
pub const CONFIG: &str = "MEDSIM_CONFIG";
/// The doctor's model.
pub const DOCTOR_MODEL: &str = "MEDSIM_DOCTOR_MODEL";
/// The patient's model.
pub const PATIENT_MODEL: &str = "MEDSIM_PATIENT_MODEL";
/// The measurement agent's model.
pub const MEASUREMENT_MODEL: &str = "MEDSIM_MEASUREMENT_MODEL";
/// The judge's model.
pub const JUDGE_MODEL: &str = "MEDSIM_JUDGE_MODEL";
/// Replay cache mode.
pub const CACHE_MODE: &str = "MEDSIM_CACHE";
/// Replay cache file.
pub const CACHE_PATH: &str = "MEDSIM_CACHE_PATH";
/// Where models are installed.
pub const DATA_DIR: &str = "MEDSIM_DATA_DIR";
