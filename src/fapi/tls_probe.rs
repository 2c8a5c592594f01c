//! The TLS downgrade probe: raw ClientHellos that offer only what FAPI forbids.
//!
//! rustls cannot offer TLS 1.0/1.1 or weak TLS 1.2 cipher suites, which is exactly what must be
//! shown to be refused, so this module writes the ClientHello bytes itself (DESIGN.md) and reads
//! only the first record of the answer: a ServerHello means the server accepted; an alert or a
//! closed connection means it refused. No handshake is ever completed and no key is derived.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TLS1_0: u16 = 0x0301;
pub const TLS1_1: u16 = 0x0302;
pub const TLS1_2: u16 = 0x0303;

/// How a server answered a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// ServerHello: the server agreed to this version and suite.
    Accepted { version: u16, suite: u16 },
    /// A TLS alert with this description code (e.g. 70 protocol_version, 40 handshake_failure).
    Alert(u8),
    /// The server closed or reset the connection without a ServerHello.
    Closed,
    /// The probe could not be made (connect failed, timed out, unparsable answer).
    Error(String),
}

/// Whether a TLS 1.2 suite is forbidden by BCP 195 or merely not among its recommended ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuiteClass {
    /// NULL, anonymous, EXPORT, RC4, DES or 3DES: never allowed (RFC 9325 §4.1).
    Forbidden,
    /// Allowed by BCP 195 but not recommended: static RSA key exchange, CBC modes, DHE
    /// (RFC 9325 §4.2 recommends only the ECDHE AES-GCM suites).
    NotRecommended,
}

/// (code, IANA name, class) of every TLS 1.2 suite the weak-suite probe offers. The four
/// RFC 9325 §4.2 recommended ECDHE AES-GCM suites and the ChaCha20-Poly1305 suites are not
/// offered: accepting them is never a finding.
pub const WEAK_SUITES: &[(u16, &str, SuiteClass)] = &[
    (0x0002, "TLS_RSA_WITH_NULL_SHA", SuiteClass::Forbidden),
    (0x003B, "TLS_RSA_WITH_NULL_SHA256", SuiteClass::Forbidden),
    (
        0x0003,
        "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
        SuiteClass::Forbidden,
    ),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA", SuiteClass::Forbidden),
    (
        0xC011,
        "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        SuiteClass::Forbidden,
    ),
    (
        0xC007,
        "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        SuiteClass::Forbidden,
    ),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA", SuiteClass::Forbidden),
    (
        0x000A,
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        SuiteClass::Forbidden,
    ),
    (
        0xC012,
        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        SuiteClass::Forbidden,
    ),
    (
        0x0034,
        "TLS_DH_anon_WITH_AES_128_CBC_SHA",
        SuiteClass::Forbidden,
    ),
    (
        0xC018,
        "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
        SuiteClass::Forbidden,
    ),
    (
        0x002F,
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0x0035,
        "TLS_RSA_WITH_AES_256_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0x003C,
        "TLS_RSA_WITH_AES_128_CBC_SHA256",
        SuiteClass::NotRecommended,
    ),
    (
        0x009C,
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        SuiteClass::NotRecommended,
    ),
    (
        0x009D,
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        SuiteClass::NotRecommended,
    ),
    (
        0xC013,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0xC014,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0xC009,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0xC00A,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0xC027,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        SuiteClass::NotRecommended,
    ),
    (
        0xC028,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        SuiteClass::NotRecommended,
    ),
    (
        0xC023,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        SuiteClass::NotRecommended,
    ),
    (
        0xC024,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        SuiteClass::NotRecommended,
    ),
    (
        0x0033,
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0x0039,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        SuiteClass::NotRecommended,
    ),
    (
        0x009E,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        SuiteClass::NotRecommended,
    ),
    (
        0x009F,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        SuiteClass::NotRecommended,
    ),
];

/// Suites a TLS 1.0/1.1 server would typically pick: the version probe must not fail merely
/// because it offered nothing the server knows.
const LEGACY_VERSION_SUITES: &[u16] = &[
    0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035, 0x000A, 0x0033, 0x0039,
];

pub fn suite_name(code: u16) -> String {
    WEAK_SUITES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| (*n).to_owned())
        .unwrap_or_else(|| format!("0x{code:04X}"))
}

pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        TLS1_0 => "TLSv1.0",
        TLS1_1 => "TLSv1.1",
        TLS1_2 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

fn u16be(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut v = u16be(u16::try_from(body.len()).unwrap_or(u16::MAX)).to_vec();
    v.extend_from_slice(body);
    v
}

fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut v = u16be(kind).to_vec();
    v.extend(with_len16(data));
    v
}

/// A ClientHello record offering exactly `version` and `suites`, with the extensions a real
/// client sends (SNI for DNS names, groups, point formats, signature algorithms, renegotiation
/// info, extended master secret) so that a refusal is a refusal of the offer, not of a malformed hello.
pub fn client_hello(host: &str, version: u16, suites: &[u16]) -> Vec<u8> {
    let mut random = [0u8; 32];
    let _ = aws_lc_rs::rand::fill(&mut random);
    let mut body = u16be(version).to_vec();
    body.extend_from_slice(&random);
    body.push(0); // empty session id
    let suite_bytes: Vec<u8> = suites.iter().flat_map(|s| u16be(*s)).collect();
    body.extend(with_len16(&suite_bytes));
    body.extend_from_slice(&[1, 0]); // compression: null only
    let mut ext = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() && !host.is_empty() {
        let mut name = vec![0u8];
        name.extend(with_len16(host.as_bytes()));
        ext.extend(extension(0x0000, &with_len16(&name)));
    }
    let groups: Vec<u8> = [0x001Du16, 0x0017, 0x0018]
        .iter()
        .flat_map(|g| u16be(*g))
        .collect();
    ext.extend(extension(0x000A, &with_len16(&groups)));
    ext.extend(extension(0x000B, &[1, 0]));
    if version >= TLS1_2 {
        let algs: Vec<u8> = [
            0x0804u16, 0x0805, 0x0403, 0x0503, 0x0401, 0x0501, 0x0201, 0x0203,
        ]
        .iter()
        .flat_map(|a| u16be(*a))
        .collect();
        ext.extend(extension(0x000D, &with_len16(&algs)));
    }
    ext.extend(extension(0xFF01, &[0]));
    ext.extend(extension(0x0017, &[]));
    body.extend(with_len16(&ext));
    let len = body.len();
    let mut handshake = vec![1u8, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    handshake.extend(body);
    // Record layer version 0x0301 for maximum compatibility, as real clients do.
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(with_len16(&handshake));
    record
}

/// Parses the first record of a server's answer.
pub fn parse_answer(bytes: &[u8]) -> Answer {
    let Some(&content_type) = bytes.first() else {
        return Answer::Closed;
    };
    match content_type {
        0x15 => bytes
            .get(6)
            .map(|d| Answer::Alert(*d))
            .unwrap_or(Answer::Closed),
        0x16 => {
            // record header (5) + handshake type (1) + length (3) + version (2) + random (32) + sid len (1)
            let (Some(&2), Some(v)) = (bytes.get(5), bytes.get(9..11)) else {
                return Answer::Error("handshake record is not a ServerHello".into());
            };
            let version = u16::from_be_bytes([v[0], v[1]]);
            let Some(&sid_len) = bytes.get(43) else {
                return Answer::Error("truncated ServerHello".into());
            };
            let at = 44 + usize::from(sid_len);
            match bytes.get(at..at + 2) {
                Some(s) => Answer::Accepted {
                    version,
                    suite: u16::from_be_bytes([s[0], s[1]]),
                },
                None => Answer::Error("truncated ServerHello".into()),
            }
        }
        other => Answer::Error(format!("unexpected TLS record type {other}")),
    }
}

/// Sends one ClientHello to `host:port` and reads the first record of the answer.
pub async fn probe(
    host: &str,
    port: u16,
    version: u16,
    suites: &[u16],
    timeout: Duration,
) -> Answer {
    let attempt = async {
        let mut tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.write_all(&client_hello(host, version, suites))
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut header = [0u8; 5];
        if tcp.read_exact(&mut header).await.is_err() {
            return Ok(Answer::Closed);
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]])).min(1 << 14);
        let mut body = vec![0u8; len];
        // A short read still lets an alert or the ServerHello prefix be parsed.
        let n = tcp.read(&mut body).await.unwrap_or(0);
        let mut all = header.to_vec();
        all.extend_from_slice(&body[..n]);
        Ok::<Answer, String>(parse_answer(&all))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => Answer::Error(e),
        Err(_) => Answer::Error("no answer before the deadline".into()),
    }
}

/// What one host answered to every probe.
#[derive(Clone, Debug, Default)]
pub struct HostReport {
    /// `host:port`.
    pub origin: String,
    /// The endpoints served there (metadata member names, `resource`).
    pub serves: Vec<String>,
    /// Every probe of a legacy version, with its answer.
    pub legacy: Vec<(u16, Answer)>,
    /// Weak TLS 1.2 suites the host accepted.
    pub weak_accepted: Vec<(u16, SuiteClass)>,
    /// Why the weak-suite enumeration stopped short, if it did.
    pub error: Option<String>,
    /// A full handshake with the harness's own trust settings: the negotiated version and suite,
    /// or why the server's certificate (or the handshake) was refused.
    pub verified: Option<Result<String, String>>,
}

impl HostReport {
    /// Only browser-facing endpoints are here, so BCP 195's "allowed" (not "recommended") rule applies.
    pub fn browser_only(&self) -> bool {
        !self.serves.is_empty() && self.serves.iter().all(|s| s == "authorization_endpoint")
    }
}

/// Probes one host: TLS 1.0 and 1.1 once each, then enumerates the weak TLS 1.2 suites it accepts
/// by offering them all and removing each one the server picks.
pub async fn probe_host(
    host: &str,
    port: u16,
    serves: Vec<String>,
    timeout: Duration,
) -> HostReport {
    let mut report = HostReport {
        origin: format!("{host}:{port}"),
        serves,
        ..Default::default()
    };
    for v in [TLS1_0, TLS1_1] {
        report.legacy.push((
            v,
            probe(host, port, v, LEGACY_VERSION_SUITES, timeout).await,
        ));
    }
    let mut offered: Vec<u16> = WEAK_SUITES.iter().map(|(c, _, _)| *c).collect();
    while !offered.is_empty() {
        match probe(host, port, TLS1_2, &offered, timeout).await {
            Answer::Accepted { suite, .. } => {
                let class = WEAK_SUITES
                    .iter()
                    .find(|(c, _, _)| *c == suite)
                    .map(|(_, _, k)| *k);
                let Some(class) = class else {
                    report.error = Some(format!(
                        "the server picked {}, which was not offered",
                        suite_name(suite)
                    ));
                    break;
                };
                report.weak_accepted.push((suite, class));
                offered.retain(|c| *c != suite);
            }
            Answer::Alert(_) | Answer::Closed => break,
            Answer::Error(e) => {
                report.error = Some(e);
                break;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_is_well_formed() {
        let h = client_hello("as.example", TLS1_0, &[0xC013, 0x002F]);
        assert_eq!(&h[..3], &[0x16, 0x03, 0x01]);
        let record_len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        assert_eq!(record_len, h.len() - 5);
        assert_eq!(h[5], 1, "ClientHello");
        let hs_len = (usize::from(h[6]) << 16) | (usize::from(h[7]) << 8) | usize::from(h[8]);
        assert_eq!(hs_len, record_len - 4);
        assert_eq!(&h[9..11], &[0x03, 0x01], "offers TLS 1.0 only");
        assert!(
            h.windows(10).any(|w| w == b"as.example"),
            "SNI for DNS names"
        );
        assert!(
            !client_hello("127.0.0.1", TLS1_2, &[0x002F])
                .windows(9)
                .any(|w| w == b"127.0.0.1"),
            "no SNI for IPs"
        );
    }

    #[test]
    fn parses_server_hello_alert_and_garbage() {
        let mut sh = vec![
            0x16, 0x03, 0x01, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2c, 0x03, 0x01,
        ];
        sh.extend_from_slice(&[7u8; 32]);
        sh.push(0);
        sh.extend_from_slice(&[0xC0, 0x13, 0x00]);
        assert_eq!(
            parse_answer(&sh),
            Answer::Accepted {
                version: TLS1_0,
                suite: 0xC013
            }
        );
        assert_eq!(
            parse_answer(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 70]),
            Answer::Alert(70)
        );
        assert_eq!(parse_answer(&[]), Answer::Closed);
        assert!(matches!(
            parse_answer(&[0x17, 0, 0, 0, 0]),
            Answer::Error(_)
        ));
        assert!(matches!(
            parse_answer(&[0x16, 3, 1, 0, 4, 2, 0, 0]),
            Answer::Error(_)
        ));
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error_not_a_refusal() {
        let a = probe("127.0.0.1", 9, TLS1_0, &[0x002F], Duration::from_secs(2)).await;
        assert!(matches!(a, Answer::Error(_)), "{a:?}");
    }
}
