//! The protocol client, one file per concept. It reports what happened; it never judges.

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod jose;
pub mod mutation;
pub mod pkce;
pub mod step;
pub mod tls;
pub mod tls_probe;
