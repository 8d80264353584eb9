//! medsim-core: cases and everything that can be said about them without a model.
//!
//! - [`case`]: the [`Case`] model, one clinical scenario whatever file it came from;
//! - [`finding`]: ordered trees of named results (exam findings, test results, patient facts);
//! - [`load`]: reading AgentClinic OSCE / NEJM JSON Lines and medsim's own JSON Lines / YAML,
//!   with errors that name the file, line and field;
//! - [`builtin`]: demo cases compiled into the binary;
//! - [`registry`]: named public datasets pinned by checksum;
//! - [`matching`] and [`audit`]: finding a diagnosis in text, and the leak audit built on it.

pub mod action;
pub mod audit;
pub mod builtin;
pub mod case;
pub mod error;
pub mod finding;
mod formats;
pub mod hash;
pub mod judging;
pub mod lexicon;
pub mod load;
pub mod matching;
pub mod measure;
pub mod measure_eval;
pub mod prices;
pub mod pyrepr;
pub mod registry;
pub mod schema;
pub mod transcript;

pub use case::{AnswerOption, Case, CaseImage, Format, PatientFacts, Source};
pub use error::{LoadError, RecordError};
pub use finding::{Finding, Findings};
pub use load::{Dataset, LoadOptions, load_bytes, load_path};
