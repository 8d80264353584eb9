//! Tests of the model layer against real HTTP servers on loopback: the scripted server (OpenAI
//! and Anthropic routes) and, for failure cases, small hand-written servers.

mod cache;
mod conformance;
mod faults;
mod secrets;
mod support;
