//! medsim's servers. [`env`]: the clinic as a reinforcement-learning environment speaking the
//! OpenEnv protocol (WebSocket `/ws`, HTTP `/reset` `/step` `/state`, `/health`, `/metadata`,
//! `/schema`, MCP `/mcp`), so OpenEnv's generic client and trainers built on it can step it.
//! [`web`]: the run viewer in the browser (`medsim serve`); [`live`]: runs and consultations
//! started, watched and played from the page.

pub mod env;
pub mod live;
pub mod web;
