//! End-to-end episodes against the scripted server on loopback: routing, grounded measurement,
//! images, the judge, the budget, every stop reason, leaks, and clinical honesty (no role is
//! handed the correct diagnosis unless the case text itself holds it).

mod episodes;
mod runs;
mod schemas;
mod strategies;
