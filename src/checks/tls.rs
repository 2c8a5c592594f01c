//! Checks on what the TLS probe found (FAPI 2.0 SP §5.2).

use super::{Finding, Observations};
use crate::fapi::tls_probe::{Answer, HostReport, SuiteClass, suite_name, version_name};

pub const REQ_LEGACY: &str = "FAPI2-SP-5.2.1-2";
pub const REQ_SUITES: &str = "FAPI2-SP-5.2.2-1";
pub const REQ_BROWSER_SUITES: &str = "FAPI2-SP-5.2.3-2";
pub const REQ_CERTIFICATE: &str = "FAPI2-SP-5.2.1-3";

fn reports<'a>(f: &Finding, obs: &'a Observations<'_>) -> Result<&'a [HostReport], Finding> {
    match obs.tls {
        Some(r) if !r.is_empty() => Ok(r),
        _ => Err(f.clone().inconclusive("no host was probed")),
    }
}

fn describe(a: &Answer) -> String {
    match a {
        Answer::Accepted { version, suite } => format!(
            "accepted {} with {}",
            version_name(*version),
            suite_name(*suite)
        ),
        Answer::Alert(code) => format!("refused (alert {code})"),
        Answer::Closed => "refused (connection closed)".into(),
        Answer::Error(e) => format!("no answer: {e}"),
    }
}

/// FAPI2-SP-5.2.1-2: every host refuses TLS 1.0 and TLS 1.1 (a ServerHello for them is a violation).
pub fn legacy_refused(name: &str, obs: &Observations<'_>) -> Finding {
    let mut f = Finding::new(name)
        .requirement(REQ_LEGACY)
        .evidence("expected", "TLS 1.0 and 1.1 refused by every host");
    let hosts = match reports(&f, obs) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let mut accepted = Vec::new();
    let mut unknown = Vec::new();
    for h in hosts {
        for (v, a) in &h.legacy {
            f = f.evidence(&format!("{} {}", h.origin, version_name(*v)), describe(a));
            match a {
                Answer::Accepted { version, .. } if version == v => {
                    accepted.push(format!("{} {}", h.origin, version_name(*v)))
                }
                Answer::Error(e) => unknown.push(format!("{} {}: {e}", h.origin, version_name(*v))),
                Answer::Accepted { .. } | Answer::Alert(_) | Answer::Closed => {}
            }
        }
    }
    if !accepted.is_empty() {
        return f.violated(format!("legacy TLS accepted: {}", accepted.join(", ")));
    }
    if !unknown.is_empty() {
        return f.inconclusive(format!("could not probe: {}", unknown.join("; ")));
    }
    f.held(format!("{} host(s) refused TLS 1.0 and 1.1", hosts.len()))
}

/// FAPI2-SP-5.2.2-1 and -5.2.3-2: with TLS 1.2, hosts serving back-channel endpoints accept only
/// BCP 195's recommended suites; hosts serving only the browser-facing authorization endpoint
/// accept no suite BCP 195 forbids.
pub fn suites_bcp195(name: &str, obs: &Observations<'_>) -> Finding {
    let mut f = Finding::new(name).requirement(REQ_SUITES).evidence(
        "expected",
        "back-channel hosts: only ECDHE AES-GCM suites; browser-only hosts: no NULL/anon/EXPORT/RC4/DES/3DES",
    );
    let hosts = match reports(&f, obs) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let mut bad = Vec::new();
    let mut unknown = Vec::new();
    for h in hosts {
        let names: Vec<String> = h
            .weak_accepted
            .iter()
            .map(|(s, _)| suite_name(*s))
            .collect();
        f = f.evidence(
            &format!("{} ({})", h.origin, h.serves.join(", ")),
            if names.is_empty() {
                "no weak suite accepted".to_owned()
            } else {
                names.join(", ")
            },
        );
        let offending: Vec<String> = h
            .weak_accepted
            .iter()
            .filter(|(_, class)| !h.browser_only() || *class == SuiteClass::Forbidden)
            .map(|(s, _)| suite_name(*s))
            .collect();
        if !offending.is_empty() {
            bad.push(format!("{} accepts {}", h.origin, offending.join(", ")));
        }
        if let Some(e) = &h.error {
            unknown.push(format!("{}: {e}", h.origin));
        }
    }
    if !bad.is_empty() {
        return f.violated(bad.join("; "));
    }
    if !unknown.is_empty() {
        return f.inconclusive(format!("enumeration incomplete: {}", unknown.join("; ")));
    }
    f.held(format!(
        "{} host(s) accept no suite outside BCP 195",
        hosts.len()
    ))
}

/// FAPI2-SP-5.2.1-3 (BCP 195 §4.1: valid certificates): every host completes a verified
/// handshake: its certificate chains to a trusted root, is in date and names the host.
pub fn certificate_valid(name: &str, obs: &Observations<'_>) -> Finding {
    let mut f = Finding::new(name)
        .requirement(REQ_CERTIFICATE)
        .evidence("expected", "a verified TLS handshake with every host");
    let hosts = match reports(&f, obs) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let mut bad = Vec::new();
    let mut unknown = Vec::new();
    for h in hosts {
        match &h.verified {
            Some(Ok(negotiated)) => f = f.evidence(&h.origin, negotiated),
            Some(Err(e)) => {
                f = f.evidence(&h.origin, e);
                // rustls names certificate problems explicitly (InvalidCertificate(Expired), …).
                if e.to_ascii_lowercase().contains("certificate") {
                    bad.push(format!("{}: {e}", h.origin));
                } else {
                    unknown.push(format!("{}: {e}", h.origin));
                }
            }
            None => unknown.push(format!("{}: no TLS configuration to verify with", h.origin)),
        }
    }
    if !bad.is_empty() {
        return f.violated(format!("certificate refused: {}", bad.join("; ")));
    }
    if !unknown.is_empty() {
        return f.inconclusive(format!("handshake failed: {}", unknown.join("; ")));
    }
    f.held(format!(
        "{} host(s) presented valid certificates",
        hosts.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::super::FindingStatus::*;
    use super::super::testkit::{Parts, observe};
    use super::*;
    use crate::fapi::tls_probe::{TLS1_0, TLS1_1};

    fn with_tls<R>(hosts: Vec<HostReport>, f: impl FnOnce(&Observations<'_>) -> R) -> R {
        observe(
            Parts {
                tls: Some(hosts),
                ..Default::default()
            },
            f,
        )
    }

    fn host(serves: &[&str], legacy: Answer, weak: Vec<(u16, SuiteClass)>) -> HostReport {
        HostReport {
            origin: "as.example:443".into(),
            serves: serves.iter().map(|s| s.to_string()).collect(),
            legacy: vec![(TLS1_0, legacy.clone()), (TLS1_1, legacy)],
            weak_accepted: weak,
            error: None,
            verified: Some(Ok("TLSv1_3 TLS13_AES_128_GCM_SHA256".into())),
        }
    }

    #[test]
    fn legacy_versions() {
        assert_eq!(
            with_tls(
                vec![host(&["token_endpoint"], Answer::Alert(70), vec![])],
                |o| legacy_refused("t", o)
            )
            .status,
            Held
        );
        let accepted = Answer::Accepted {
            version: TLS1_0,
            suite: 0xC013,
        };
        assert_eq!(
            with_tls(vec![host(&["token_endpoint"], accepted, vec![])], |o| {
                legacy_refused("t", o)
            })
            .status,
            Violated
        );
        assert_eq!(
            with_tls(
                vec![host(&["x"], Answer::Error("timeout".into()), vec![])],
                |o| legacy_refused("t", o)
            )
            .status,
            Inconclusive
        );
        assert_eq!(
            with_tls(vec![], |o| legacy_refused("t", o)).status,
            Inconclusive
        );
    }

    #[test]
    fn suites_depend_on_what_the_host_serves() {
        let cbc = vec![(0xC013, SuiteClass::NotRecommended)];
        assert_eq!(
            with_tls(
                vec![host(&["token_endpoint"], Answer::Closed, cbc.clone())],
                |o| suites_bcp195("t", o)
            )
            .status,
            Violated
        );
        assert_eq!(
            with_tls(
                vec![host(&["authorization_endpoint"], Answer::Closed, cbc)],
                |o| suites_bcp195("t", o)
            )
            .status,
            Held
        );
        let rc4 = vec![(0x0005, SuiteClass::Forbidden)];
        assert_eq!(
            with_tls(
                vec![host(&["authorization_endpoint"], Answer::Closed, rc4)],
                |o| suites_bcp195("t", o)
            )
            .status,
            Violated
        );
        assert_eq!(
            with_tls(
                vec![host(&["token_endpoint"], Answer::Closed, vec![])],
                |o| suites_bcp195("t", o)
            )
            .status,
            Held
        );
        let mut partial = host(&["token_endpoint"], Answer::Closed, vec![]);
        partial.error = Some("reset".into());
        assert_eq!(
            with_tls(vec![partial], |o| suites_bcp195("t", o)).status,
            Inconclusive
        );
    }
}
