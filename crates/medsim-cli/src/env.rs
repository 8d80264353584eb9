//! Every environment variable medsim reads, declared in one place.

/// Overrides the cache directory (datasets, downloaded files).
pub const CACHE_DIR: &str = "MEDSIM_CACHE_DIR";
/// When set to a true value, medsim never uses the network.
pub const OFFLINE: &str = "MEDSIM_OFFLINE";
