//! Selection: which items run in which variants, after CLI filters, target capabilities and sharding.

use super::model::{ClientAuth, Item, OpenidMode, Plan, SenderConstraint, Variant, VariantMatrix};
use crate::error::Diagnostic;

/// The tag that marks items with long deliberate waits; `--fast` leaves them out.
pub const SLOW_TAG: &str = "slow";

/// Everything the user asked for on the command line that narrows a run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--variant key=value`, parsed; an empty dimension means "all the plan has".
    pub variants: VariantMatrix,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    /// Leave out `slow` items.
    pub fast: bool,
    /// `(k, n)`: keep units whose index `% n == k - 1`.
    pub shard: Option<(usize, usize)>,
}

/// One unit of work: an item in one variant.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Position in the full expanded list, before filters: stable across filters and shards.
    pub index: usize,
    pub item: usize,
    pub variant: Variant,
    /// `once` items report under `all` instead of the variant label.
    pub variant_label: String,
}

/// The outcome of selection.
#[derive(Debug, Clone)]
pub struct Selected {
    pub units: Vec<Unit>,
    pub variants: Vec<Variant>,
    pub variants_not_run: Vec<(String, String)>,
    /// `slow` items left out by `--fast`.
    pub slow_excluded: usize,
}

/// What the target offers, as far as variants go.
#[derive(Debug, Clone, Default)]
pub struct TargetVariants {
    pub client_auth: Vec<ClientAuth>,
    /// Empty: the target did not say, so every value is tried.
    pub sender_constraint: Vec<SenderConstraint>,
}

/// Parses `--variant key=value`.
pub fn parse_variant_arg(arg: &str, into: &mut VariantMatrix) -> Result<(), Diagnostic> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        Diagnostic::new(format!("--variant `{arg}` is not key=value"))
            .hint("e.g. --variant client_auth=private_key_jwt")
    })?;
    let unknown_value = |valid: &[&str]| {
        Diagnostic::new(format!("--variant {key}: unknown value `{value}`"))
            .hint(format!("valid values: {}", valid.join(", ")))
    };
    match key {
        "client_auth" => {
            let v = ClientAuth::ALL.into_iter().find(|c| c.as_str() == value);
            into.client_auth
                .push(v.ok_or_else(|| unknown_value(&ClientAuth::ALL.map(ClientAuth::as_str)))?);
        }
        "sender_constraint" => {
            let v = SenderConstraint::ALL
                .into_iter()
                .find(|c| c.as_str() == value);
            into.sender_constraint.push(v.ok_or_else(|| {
                unknown_value(&SenderConstraint::ALL.map(SenderConstraint::as_str))
            })?);
        }
        "openid" => {
            let v = OpenidMode::ALL.into_iter().find(|c| c.as_str() == value);
            into.openid
                .push(v.ok_or_else(|| unknown_value(&OpenidMode::ALL.map(OpenidMode::as_str)))?);
        }
        _ => {
            return Err(
                Diagnostic::new(format!("--variant: unknown dimension `{key}`"))
                    .hint("valid dimensions: client_auth, sender_constraint, openid"),
            );
        }
    }
    Ok(())
}

/// Parses `--shard K/N` (1-based K).
pub fn parse_shard(arg: &str) -> Result<(usize, usize), Diagnostic> {
    let bad = || {
        Diagnostic::new(format!("--shard `{arg}` is not K/N with 1 <= K <= N"))
            .hint("e.g. --shard 2/4 runs the second of four shards")
    };
    let (k, n) = arg.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn matches_any(patterns: &[String], id: &str) -> bool {
    patterns
        .iter()
        .any(|p| wildmatch::WildMatch::new(p).matches(id))
}

fn item_selected(item: &Item, sel: &Selection) -> bool {
    let id = item.id.value.as_str();
    (sel.only.is_empty() || matches_any(&sel.only, id))
        && !matches_any(&sel.skip, id)
        && (sel.tags.is_empty() || item.tags.iter().any(|t| sel.tags.contains(t)))
        && !item.tags.iter().any(|t| sel.skip_tags.contains(t))
}

/// The label of a `once` item: the restriction it applies under, or `all`.
fn once_label(applies: &VariantMatrix) -> String {
    let mut parts = Vec::new();
    let mut dim = |name: &str, values: Vec<&str>| {
        if !values.is_empty() {
            parts.push(format!("{name}={}", values.join("|")));
        }
    };
    dim(
        "client_auth",
        applies.client_auth.iter().map(|v| v.as_str()).collect(),
    );
    dim(
        "sender_constraint",
        applies
            .sender_constraint
            .iter()
            .map(|v| v.as_str())
            .collect(),
    );
    dim(
        "openid",
        applies.openid.iter().map(|v| v.as_str()).collect(),
    );
    if parts.is_empty() {
        "all".to_owned()
    } else {
        parts.join(",")
    }
}

/// Expands the plan into units: variants in matrix order, items in plan order within each.
pub fn select(plan: &Plan, sel: &Selection, target: Option<&TargetVariants>) -> Selected {
    let mut variants = Vec::new();
    let mut variants_not_run = Vec::new();
    for v in plan.variants.expand() {
        if !sel.variants.admits(&v) {
            variants_not_run.push((v.label(), "excluded by --variant".to_owned()));
            continue;
        }
        if let Some(t) = target {
            if let Some(ca) = v.client_auth
                && !t.client_auth.contains(&ca)
            {
                variants_not_run.push((v.label(), format!("target has no {} client", ca.as_str())));
                continue;
            }
            if let Some(sc) = v.sender_constraint
                && !t.sender_constraint.is_empty()
                && !t.sender_constraint.contains(&sc)
            {
                variants_not_run.push((
                    v.label(),
                    format!("target does not support {}", sc.as_str()),
                ));
                continue;
            }
        }
        variants.push(v);
    }

    let mut units = Vec::new();
    let mut index = 0;
    let mut slow_excluded = 0;
    let mut once_done = vec![false; plan.items.len()];
    for v in &variants {
        for (i, item) in plan.items.iter().enumerate() {
            if !item.applies.admits(v) || (item.once && once_done[i]) {
                continue;
            }
            once_done[i] = true;
            let this = index;
            index += 1;
            if !item_selected(item, sel) {
                continue;
            }
            if sel.fast && item.tags.iter().any(|t| t == SLOW_TAG) {
                slow_excluded += 1;
                continue;
            }
            if let Some((k, n)) = sel.shard
                && this % n != k - 1
            {
                continue;
            }
            units.push(Unit {
                index: this,
                item: i,
                variant: v.clone(),
                variant_label: if item.once {
                    once_label(&item.applies)
                } else {
                    v.label()
                },
            });
        }
    }
    Selected {
        units,
        variants,
        variants_not_run,
        slow_excluded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> Plan {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const PLAN: &str = r#"
plan: p
title: P
spec: S
profile: fapi2-security-profile
variants:
  client_auth: [private_key_jwt, tls_client_auth]
  sender_constraint: [dpop, mtls]
items:
  - id: A
    title: a
    level: must
    refs: [OIDD-4-1]
    once: true
    flow: [ { discovery: {} } ]
    expect: [ issuer_matches ]
  - id: B
    title: b
    level: must
    refs: [OIDD-4-1]
    tags: [slow]
    applies: { sender_constraint: [dpop] }
    flow: [ { discovery: {} } ]
    expect: [ issuer_matches ]
  - id: C
    title: c
    level: should
    refs: [OIDD-4-1]
    flow: [ { discovery: {} } ]
    expect: [ issuer_matches ]
"#;

    fn ids(s: &Selected, p: &Plan) -> Vec<String> {
        s.units
            .iter()
            .map(|u| format!("{}@{}", p.items[u.item].id.value, u.variant_label))
            .collect()
    }

    #[test]
    fn expands_variants_with_once_and_applies() {
        let p = plan(PLAN);
        let s = select(&p, &Selection::default(), None);
        assert_eq!(s.variants.len(), 4);
        // A once, B in the two dpop variants, C in all four.
        assert_eq!(s.units.len(), 1 + 2 + 4);
        assert_eq!(ids(&s, &p)[0], "A@all");
    }

    #[test]
    fn shards_partition_exactly() {
        let p = plan(PLAN);
        let all: Vec<usize> = select(&p, &Selection::default(), None)
            .units
            .iter()
            .map(|u| u.index)
            .collect();
        for n in 1..=4 {
            let mut union: Vec<usize> = (1..=n)
                .flat_map(|k| {
                    let sel = Selection {
                        shard: Some((k, n)),
                        ..Default::default()
                    };
                    select(&p, &sel, None)
                        .units
                        .into_iter()
                        .map(|u| u.index)
                        .collect::<Vec<_>>()
                })
                .collect();
            union.sort();
            assert_eq!(union, all, "n={n}");
        }
    }

    #[test]
    fn filters_fast_and_target() {
        let p = plan(PLAN);
        let sel = Selection {
            fast: true,
            skip: vec!["A".into()],
            ..Default::default()
        };
        let s = select(&p, &sel, None);
        assert_eq!(s.slow_excluded, 2);
        assert!(ids(&s, &p).iter().all(|i| i.starts_with("C@")));
        let t = TargetVariants {
            client_auth: vec![ClientAuth::PrivateKeyJwt],
            sender_constraint: vec![SenderConstraint::Dpop],
        };
        let s = select(&p, &Selection::default(), Some(&t));
        assert_eq!(s.variants.len(), 1);
        assert_eq!(s.variants_not_run.len(), 3);
        let mut only = Selection::default();
        only.only.push("B*".into());
        only.tags.push("slow".into());
        assert_eq!(select(&p, &only, None).units.len(), 2);
    }

    #[test]
    fn parses_variant_and_shard_args() {
        let mut m = VariantMatrix::default();
        parse_variant_arg("client_auth=tls_client_auth", &mut m).unwrap();
        assert_eq!(m.client_auth, vec![ClientAuth::TlsClientAuth]);
        assert!(
            parse_variant_arg("client_auth=basic", &mut m)
                .unwrap_err()
                .hint
                .unwrap()
                .contains("private_key_jwt")
        );
        assert!(parse_variant_arg("colour=red", &mut m).is_err());
        assert!(parse_variant_arg("nokey", &mut m).is_err());
        assert_eq!(parse_shard("2/4").unwrap(), (2, 4));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
