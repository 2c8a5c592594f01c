//! Documents shared across items: each metadata document and the JWK Set is fetched once per run,
//! however many items read it. Items that share one still carry its exchange as evidence.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};

use crate::checks::Document;
use crate::evidence::Exchange;
use crate::fapi::step::MetadataDocument;

/// A fetched document and the exchange that fetched it.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub exchange: Exchange,
    pub doc: Document,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocKey {
    Metadata(MetadataDocument),
    Jwks,
}

#[derive(Default)]
pub struct DocCache {
    cells: Mutex<HashMap<DocKey, Arc<OnceCell<Fetched>>>>,
}

impl DocCache {
    /// The cell for `key`; the first caller fetches, concurrent callers wait for that fetch.
    pub async fn cell(&self, key: DocKey) -> Arc<OnceCell<Fetched>> {
        self.cells.lock().await.entry(key).or_default().clone()
    }
}
