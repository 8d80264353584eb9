//! End-to-end tests of the `medsim` binary: real processes, real files, a real HTTP server on
//! loopback.

mod cases;
mod consult;
mod datasets;
mod export;
mod first_hour;
mod hardening;
#[path = "../../../medsim-local/tests/it/https.rs"]
mod https;
mod learn;
mod llm;
mod run;
mod support;
mod verdicts;
