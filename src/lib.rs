//! fapi-harness: a conformance and security test harness for FAPI 1.0 Advanced and FAPI 2.0
//! authorization and resource servers.
//!
//! Data flows one way: plan + target → runner → events → reporters.

pub mod catalogue;
pub mod checks;
pub mod cli;
pub mod coverage;
pub mod error;
pub mod evidence;
pub mod fapi;
pub mod http;
pub mod login;
pub mod plan;
pub mod redact;
pub mod reference;
pub mod report;
pub mod runner;
pub mod target;
