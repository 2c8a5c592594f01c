//! Whether issued values look random (FAPI2-SP-5.4.1-4, RFC9126-2.2-2): a heuristic over values
//! sampled from independent flows (the `samples` step).
//!
//! Entropy cannot be proven from outside: a value derived from a counter by a keyed hash looks
//! perfectly random. What can be seen is a value issued twice, a random-looking part too short to
//! hold 128 bits, or one that barely changes from flow to flow, as counters and timestamps do.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Finding, Observations, Stage};
use crate::fapi::jose;

pub const REQ_ENTROPY: &str = "FAPI2-SP-5.4.1-4";
pub const REQ_REQUEST_URI_RANDOM: &str = "RFC9126-2.2-2";

/// The floor FAPI2-SP-5.4.1-4 sets.
const MIN_BITS: f64 = 128.0;

/// A kind with fewer samples is not judged. Three random values already differ in nearly every
/// position; five leave a margin for alphabets smaller than base64url.
pub const MIN_SAMPLES: usize = 5;

/// A value the AS issues that must be unguessable.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Issued {
    RequestUri,
    Code,
    AccessToken,
    RefreshToken,
}

impl Issued {
    pub fn as_str(self) -> &'static str {
        match self {
            Issued::RequestUri => "request_uri",
            Issued::Code => "code",
            Issued::AccessToken => "access_token",
            Issued::RefreshToken => "refresh_token",
        }
    }

    /// The stage whose successful answer carries the value.
    pub fn stage(self) -> Stage {
        match self {
            Issued::RequestUri => Stage::Par,
            Issued::Code => Stage::Authorization,
            Issued::AccessToken | Issued::RefreshToken => Stage::Token,
        }
    }
}

/// What the `samples` step gathered: the values each flow was issued.
#[derive(Clone, Debug)]
pub struct Samples {
    /// Flows started.
    pub flows: usize,
    /// The last stage each flow was to reach.
    pub through: Stage,
    /// Each value with the exchange that carried it, in the order the flows finished.
    pub values: Vec<(Issued, String, Option<u32>)>,
    /// How many flows each stage accepted.
    pub accepted: HashMap<Stage, usize>,
    /// Why flows ended before `through`, one line per flow.
    pub stopped: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValuesLookRandom {
    pub of: Vec<Issued>,
}

/// How one kind of value came out.
enum Verdict {
    Random(String),
    /// Why, and the exchange that carried an offending value.
    NotRandom(String, Option<u32>),
    /// Too few samples to judge.
    Unjudged(String),
    /// The AS answered but never issued this kind (a refresh token is optional).
    NotIssued(String),
}

pub fn values_look_random(name: &str, obs: &Observations<'_>, of: &[Issued]) -> Finding {
    let req = if of == [Issued::RequestUri] {
        REQ_REQUEST_URI_RANDOM
    } else {
        REQ_ENTROPY
    };
    let f = Finding::new(name).requirement(req).evidence(
        "expected",
        "distinct values whose random-looking part holds ≥ 128 bits and changes from flow to flow",
    );
    let Some(s) = obs.samples else {
        return f.inconclusive("the item sampled no values");
    };
    let mut f = f.evidence(
        "flows",
        match s.stopped.first() {
            None => format!("{} flows, all completed", s.flows),
            Some(first) => format!(
                "{} flows, {} ended early (first: {first})",
                s.flows,
                s.stopped.len()
            ),
        },
    );
    let mut broken = Vec::new();
    let mut unjudged = Vec::new();
    let mut judged = false;
    let mut exchange = None;
    for kind in of {
        let line = match judge(*kind, s) {
            Verdict::Random(why) => {
                judged = true;
                why
            }
            Verdict::NotRandom(why, seq) => {
                judged = true;
                exchange = exchange.or(seq);
                broken.push(format!("{}: {why}", kind.as_str()));
                why
            }
            Verdict::Unjudged(why) => {
                unjudged.push(format!("{}: {why}", kind.as_str()));
                why
            }
            Verdict::NotIssued(why) => format!("{why}; not judged"),
        };
        f = f.evidence(kind.as_str(), line);
    }
    let f = f.on(exchange);
    if !broken.is_empty() {
        f.violated(broken.join("; "))
    } else if !unjudged.is_empty() {
        f.inconclusive(unjudged.join("; "))
    } else if !judged {
        f.not_applicable("the AS issued none of the values this check judges")
    } else {
        f.held("every sampled kind of value looks random")
    }
}

fn judge(kind: Issued, s: &Samples) -> Verdict {
    let values: Vec<(&str, Option<u32>)> = s
        .values
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .map(|(_, v, seq)| (v.as_str(), *seq))
        .collect();
    if values.len() < MIN_SAMPLES {
        let answered = s.accepted.get(&kind.stage()).copied().unwrap_or(0);
        return if kind.stage() > s.through {
            Verdict::Unjudged(format!(
                "not sampled: the samples step stops at {}",
                s.through.as_str()
            ))
        } else if values.is_empty() && answered >= MIN_SAMPLES {
            Verdict::NotIssued(format!(
                "none of the {answered} accepted {} responses carried one",
                kind.stage().as_str()
            ))
        } else {
            Verdict::Unjudged(format!(
                "only {} of {} flows issued one; at least {MIN_SAMPLES} are needed",
                values.len(),
                s.flows
            ))
        };
    }
    let mut seen = HashSet::new();
    if let Some((v, seq)) = values.iter().find(|(v, _)| !seen.insert(*v)) {
        return Verdict::NotRandom(format!("{v} was issued twice"), *seq);
    }
    let mut parts = Vec::new();
    for (v, seq) in &values {
        match random_part(v) {
            Ok(p) => parts.push(p),
            Err(why) => return Verdict::NotRandom(format!("{v} is {why}"), *seq),
        }
    }
    let mut seen = HashSet::new();
    if let Some(i) = parts.iter().position(|p| !seen.insert(p.as_str())) {
        return Verdict::NotRandom(
            format!(
                "{} repeats the random-looking part of an earlier value",
                values[i].0
            ),
            values[i].1,
        );
    }
    let alphabet = Alphabet::of(&parts);
    let (shortest, len) = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (i, alphabet.symbols(p)))
        .min_by_key(|(_, n)| *n)
        .unwrap_or((0, 0));
    let bits = len as f64 * alphabet.bits_per_symbol();
    let source = if jose::decode_unverified(values[shortest].0).is_some() {
        "its jti"
    } else {
        "its longest base64url run"
    };
    if bits < MIN_BITS {
        return Verdict::NotRandom(
            format!(
                "the random-looking part of {} ({source}) has {len} {} characters: at most {bits:.0} bits",
                values[shortest].0,
                alphabet.as_str(),
            ),
            values[shortest].1,
        );
    }
    let (varying, width, pattern) = varying_positions(&parts);
    let varying_bits = varying as f64 * alphabet.bits_per_symbol();
    if varying_bits < MIN_BITS {
        return Verdict::NotRandom(
            format!(
                "only {varying} of {width} positions of the random-looking part differ across \
                 {} values, as in a counter or timestamp (at most {varying_bits:.0} bits); \
                 right-aligned, `?` marks the positions that differ: {pattern}",
                values.len()
            ),
            values[0].1,
        );
    }
    Verdict::Random(format!(
        "{} distinct values; random-looking part ({source}) ≥ {len} {} characters, {varying} of \
         {width} positions differ across the samples: up to {varying_bits:.0} bits",
        values.len(),
        alphabet.as_str(),
    ))
}

/// The part of a value that should carry its entropy: a JWT's `jti` (the rest of a JWT is
/// predictable claims and a signature), else the longest run of base64url characters (the
/// random tail of `urn:ietf:params:oauth:request_uri:…`, the body of a prefixed token).
fn random_part(value: &str) -> Result<String, String> {
    match jose::decode_unverified(value) {
        Some((_, claims)) => match claims.get("jti").and_then(Value::as_str) {
            Some(jti) => Ok(longest_run(jti).to_owned()),
            None => Err(
                "a JWT without a string jti claim: nothing in it need be unpredictable (RFC 9068 §2.2 requires jti)"
                    .to_owned(),
            ),
        },
        None => Ok(longest_run(value).to_owned()),
    }
}

fn is_base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The longest run of base64url characters (the first of equal length).
fn longest_run(value: &str) -> &str {
    value.split(|c| !is_base64url(c)).fold(
        "",
        |best, run| if run.len() > best.len() { run } else { best },
    )
}

/// The smallest common alphabet the parts are written in, which bounds the bits per character.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Alphabet {
    Decimal,
    /// Hexadecimal in one case; hyphens (as in a UUID) are separators, not symbols.
    Hex,
    Base64url,
}

impl Alphabet {
    fn of(parts: &[String]) -> Alphabet {
        let all = |f: fn(char) -> bool| parts.iter().all(|p| p.chars().all(f));
        if all(|c| c.is_ascii_digit()) {
            Alphabet::Decimal
        } else if all(|c| matches!(c, '0'..='9' | 'a'..='f' | '-'))
            || all(|c| matches!(c, '0'..='9' | 'A'..='F' | '-'))
        {
            Alphabet::Hex
        } else {
            Alphabet::Base64url
        }
    }

    fn bits_per_symbol(self) -> f64 {
        match self {
            Alphabet::Decimal => 10f64.log2(),
            Alphabet::Hex => 4.0,
            Alphabet::Base64url => 6.0,
        }
    }

    fn symbols(self, part: &str) -> usize {
        match self {
            Alphabet::Hex => part.chars().filter(|c| *c != '-').count(),
            Alphabet::Decimal | Alphabet::Base64url => part.len(),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Alphabet::Decimal => "decimal",
            Alphabet::Hex => "hex",
            Alphabet::Base64url => "base64url",
        }
    }
}

/// Aligns the parts at their right end (where counters and timestamps tick) over the shortest
/// one's length, and counts the positions whose character differs between samples. Returns that
/// count, the width, and the pattern: constant characters as they are, `?` where they differ.
fn varying_positions(parts: &[String]) -> (usize, usize, String) {
    let width = parts.iter().map(String::len).min().unwrap_or(0);
    let tails: Vec<&[u8]> = parts
        .iter()
        .map(|p| &p.as_bytes()[p.len() - width..])
        .collect();
    let pattern: String = (0..width)
        .map(|i| {
            let c = tails[0][i];
            if tails.iter().all(|t| t[i] == c) {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect();
    let varying = pattern.chars().filter(|c| *c == '?').count();
    (varying, width, pattern)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::super::FindingStatus::*;
    use super::super::testkit::{Parts, observe};
    use super::*;

    fn random(bytes: usize) -> String {
        let mut b = vec![0u8; bytes];
        aws_lc_rs::rand::fill(&mut b).unwrap();
        URL_SAFE_NO_PAD.encode(b)
    }

    /// `n` random hexadecimal digits.
    fn hex(n: usize) -> String {
        let mut b = vec![0u8; n];
        aws_lc_rs::rand::fill(&mut b).unwrap();
        b.iter().map(|x| format!("{:x}", x % 16)).collect()
    }

    fn samples(kind: Issued, values: Vec<String>) -> Samples {
        let n = values.len();
        Samples {
            flows: n,
            through: Stage::Token,
            values: values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (kind, v, Some(i as u32 + 1)))
                .collect(),
            accepted: [(kind.stage(), n)].into_iter().collect(),
            stopped: vec![],
        }
    }

    fn judge_all(s: Samples, of: &[Issued]) -> Finding {
        observe(
            Parts {
                samples: Some(s),
                ..Default::default()
            },
            |obs| values_look_random("values_look_random", obs, of),
        )
    }

    fn one(kind: Issued, values: Vec<String>) -> Finding {
        judge_all(samples(kind, values), &[kind])
    }

    #[test]
    fn random_values_pass() {
        let f = one(Issued::AccessToken, (0..20).map(|_| random(32)).collect());
        assert_eq!(f.status, Held, "{f:?}");
        let uris = (0..20)
            .map(|_| format!("urn:ietf:params:oauth:request_uri:{}", random(24)))
            .collect();
        let f = one(Issued::RequestUri, uris);
        assert_eq!(f.status, Held, "{f:?}");
        assert_eq!(f.requirement, Some(REQ_REQUEST_URI_RANDOM));
        // 32 random hex digits are 128 bits.
        assert_eq!(
            one(Issued::Code, (0..20).map(|_| hex(32)).collect()).status,
            Held
        );
    }

    #[test]
    fn duplicates_fail() {
        let mut v: Vec<String> = (0..19).map(|_| random(32)).collect();
        v.push(v[3].clone());
        let f = one(Issued::Code, v);
        assert_eq!(f.status, Violated);
        assert!(f.message.contains("issued twice"), "{}", f.message);
        assert_eq!(f.exchange, Some(20));
    }

    #[test]
    fn short_values_fail() {
        // 64 bits in base64url: 11 characters.
        let f = one(Issued::Code, (0..20).map(|_| random(8)).collect());
        assert_eq!(f.status, Violated);
        assert!(
            f.message.contains("11 base64url characters"),
            "{}",
            f.message
        );
        // 26 hex digits are 104 bits, although longer than 22 characters.
        let f = one(Issued::Code, (0..20).map(|_| hex(26)).collect());
        assert_eq!(f.status, Violated, "{f:?}");
        assert!(f.message.contains("hex"), "{}", f.message);
    }

    #[test]
    fn counters_fail() {
        let uris = (1..=20)
            .map(|i| format!("urn:ietf:params:oauth:request_uri:req-{i:024}"))
            .collect();
        let f = one(Issued::RequestUri, uris);
        assert_eq!(f.status, Violated, "{f:?}");
        assert!(
            f.message.contains("only 2 of 28 positions"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("req-0000000000000000000000??"),
            "{}",
            f.message
        );
        // A long random prefix shared by every value does not hide the counter.
        let prefix = random(32);
        let f = one(
            Issued::AccessToken,
            (0..20).map(|i| format!("{prefix}{i:04}")).collect(),
        );
        assert_eq!(f.status, Violated, "{f:?}");
    }

    #[test]
    fn timestamps_fail() {
        // Nanoseconds since the epoch over about a second, zero-padded to 40 decimal digits.
        let start: u128 = 1_717_000_000_000_000_000;
        let v = (0..20)
            .map(|i| format!("{:040}", start + i * 48_611_137))
            .collect();
        let f = one(Issued::RefreshToken, v);
        assert_eq!(f.status, Violated, "{f:?}");
        assert!(f.message.contains("counter or timestamp"), "{}", f.message);
    }

    fn jwt(claims: serde_json::Value) -> String {
        let seg = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            seg(serde_json::json!({"alg": "PS256", "typ": "at+jwt"})),
            seg(claims),
            random(64)
        )
    }

    #[test]
    fn jwt_access_tokens_are_judged_by_their_jti() {
        let good = (0..20)
            .map(|i| jwt(serde_json::json!({"iat": 1_717_000_000 + i, "jti": random(16)})))
            .collect();
        assert_eq!(one(Issued::AccessToken, good).status, Held);
        // Every token differs (iat, signature), but the jti counts.
        let counted = (0..20)
            .map(|i| {
                jwt(serde_json::json!({"iat": 1_717_000_000 + i, "jti": format!("at-{i:030}")}))
            })
            .collect();
        let f = one(Issued::AccessToken, counted);
        assert_eq!(f.status, Violated, "{f:?}");
        assert!(f.evidence.iter().any(|(_, v)| v.contains("positions")));
        let without = (0..20)
            .map(|i| jwt(serde_json::json!({"iat": 1_717_000_000 + i})))
            .collect();
        let f = one(Issued::AccessToken, without);
        assert_eq!(f.status, Violated);
        assert!(f.message.contains("without a string jti"), "{}", f.message);
    }

    #[test]
    fn too_few_samples_are_inconclusive_and_missing_kinds_are_not_judged() {
        let mut s = samples(Issued::AccessToken, (0..3).map(|_| random(32)).collect());
        s.flows = 20;
        s.stopped = vec!["token rejected".into(); 17];
        let f = judge_all(s, &[Issued::AccessToken]);
        assert_eq!(f.status, Inconclusive, "{f:?}");
        assert!(f.message.contains("only 3 of 20"), "{}", f.message);

        // Token responses without refresh tokens: that kind is not judged, the others are.
        let s = samples(Issued::AccessToken, (0..20).map(|_| random(32)).collect());
        let f = judge_all(s.clone(), &[Issued::AccessToken, Issued::RefreshToken]);
        assert_eq!(f.status, Held, "{f:?}");
        assert!(
            f.evidence
                .iter()
                .any(|(k, v)| k == "refresh_token" && v.contains("not judged"))
        );
        let f = judge_all(s.clone(), &[Issued::RefreshToken]);
        assert_eq!(f.status, NotApplicable, "{f:?}");

        // A kind the flows never went far enough to be issued.
        let mut s = samples(Issued::RequestUri, (0..20).map(|_| random(32)).collect());
        s.through = Stage::Par;
        let f = judge_all(s, &[Issued::RequestUri, Issued::Code]);
        assert_eq!(f.status, Inconclusive, "{f:?}");
        assert!(f.message.contains("stops at par"), "{}", f.message);

        let f = observe(Parts::default(), |obs| {
            values_look_random("values_look_random", obs, &[Issued::Code])
        });
        assert_eq!(f.status, Inconclusive);
    }

    #[test]
    fn a_violation_wins_over_an_unjudged_kind() {
        let mut s = samples(Issued::Code, (0..20).map(|_| random(8)).collect());
        s.through = Stage::Authorization;
        let f = judge_all(s, &[Issued::Code, Issued::AccessToken]);
        assert_eq!(f.status, Violated, "{f:?}");
    }

    #[test]
    fn random_part_is_the_longest_base64url_run() {
        assert_eq!(
            longest_run("urn:ietf:params:oauth:request_uri:abc-DEF_123xyz"),
            "abc-DEF_123xyz"
        );
        assert_eq!(longest_run("at.1717000000.abcd"), "1717000000");
        assert_eq!(longest_run(""), "");
    }
}
