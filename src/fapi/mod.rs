//! The protocol client, one file per concept. It reports what happened; it never judges.

pub mod discovery;
pub mod jose;
pub mod step;
pub mod tls;
