//! The requirement catalogue (shared/requirements.md), shipped as data in `data/requirements.json`.
//!
//! Plan `refs` must name ids from here; `explain` shows their wording.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// One catalogue row.
#[derive(Debug, Clone, Deserialize)]
pub struct Requirement {
    pub id: String,
    /// SHALL, SHALL NOT, SHOULD, SHOULD NOT, MAY (with `*` for declarative statements).
    pub level: String,
    /// One-line paraphrase of the normative text.
    pub requirement: String,
    /// yes, partly or no.
    pub testable: String,
    /// How a black-box tester checks it.
    pub how: String,
    /// The catalogue section it appears under.
    pub section: String,
}

const DATA: &str = include_str!("../data/requirements.json");

struct Catalogue {
    rows: Vec<Requirement>,
    index: HashMap<String, usize>,
}

fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| {
        // The file is ours and compiled in; a test proves it parses.
        let rows: Vec<Requirement> =
            serde_json::from_str(DATA).expect("data/requirements.json parses");
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        Catalogue { rows, index }
    })
}

/// Looks a requirement up by its exact id.
pub fn get(id: &str) -> Option<&'static Requirement> {
    let c = catalogue();
    c.index.get(id).map(|&i| &c.rows[i])
}

/// Every requirement, in catalogue order.
pub fn all() -> &'static [Requirement] {
    &catalogue().rows
}

/// Up to `n` ids that resemble `id`, for "did you mean" hints.
pub fn similar(id: &str, n: usize) -> Vec<&'static str> {
    let prefix: String = id.chars().take_while(|c| *c != '-').collect();
    let mut scored: Vec<(usize, &str)> = all()
        .iter()
        .filter(|r| r.id.starts_with(&prefix))
        .map(|r| (edit_distance(id, &r.id), r.id.as_str()))
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, s)| s).collect()
}

/// Levenshtein distance, for short identifiers only.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_loads_with_unique_ids() {
        assert!(all().len() > 370);
        assert_eq!(catalogue().index.len(), all().len());
        assert_eq!(get("FAPI2-SP-5.3.2.1-1").unwrap().level, "SHALL");
    }

    #[test]
    fn every_cited_requirement_exists() {
        for id in crate::checks::CITED {
            assert!(get(id).is_some(), "{id} is not in the catalogue");
        }
    }

    #[test]
    fn similar_ids_are_suggested() {
        assert!(
            similar("FAPI2-SP-5.3.2.1-99", 3)
                .iter()
                .any(|s| s.starts_with("FAPI2-SP-5.3.2.1-"))
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
