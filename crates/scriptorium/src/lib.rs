//! Wiring of the `scriptorium` binary: configuration, the target table and
//! application start-up. `main.rs` only parses the command line.

pub mod cli;
pub mod configuration;
pub mod startup;
pub mod targets;
