//! Mutations: the one named way each request is deliberately broken for a negative test.
//!
//! A mutation names what it does to the request (`omit_pkce`, `assertion_aud: token_endpoint`).
//! Builders apply the ones that concern them and ignore the rest, so one list can be given to a
//! flow and each step takes its part.

use serde::{Deserialize, Serialize};

/// One deliberate change to an otherwise correct request.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Mutation {
    // PKCE (RFC 7636, FAPI2-SP-5.3.2.2-5)
    /// Send no `code_challenge` at all.
    OmitPkce,
    /// `code_challenge_method=plain` with the verifier as challenge.
    PlainPkce,
    /// A challenge without `code_challenge_method` (which means plain).
    OmitCodeChallengeMethod,
    /// Redeem the code without `code_verifier`.
    OmitCodeVerifier,
    /// Redeem the code with a different, well-formed verifier.
    WrongCodeVerifier,
    /// An S256 challenge cut to 42 characters, one short of the `43*128unreserved` minimum.
    ShortCodeChallenge,
    /// The S256 challenge in standard base64 with padding (`+`, `/`, `=`), not base64url.
    Base64CodeChallenge,
    // Authorization request parameters
    /// Send no `redirect_uri` (FAPI2-SP-5.3.2.2-6).
    OmitRedirectUri,
    /// Use a redirect URI the client never registered (open-redirect probe).
    UnregisteredRedirectUri,
    /// Use `http://client.example/cb`: plain http, not a loopback address (FAPI2-SP-5.3.2.2-8).
    HttpRedirectUri,
    /// Use this `response_type` instead of `code`.
    ResponseType(String),
    /// Send a nonce of this many characters.
    NonceLength(usize),
    /// Send no `state`.
    OmitState,
    /// Send a random `state` of this many characters.
    StateLength(usize),
    /// Add a `request_uri` parameter to the pushed request (RFC 9126 §2.1 forbids it).
    ParRequestUri,
    /// Next to `request_uri` at the authorization endpoint, also send `redirect_uri`
    /// (`https://evil.example/cb`) and another `state` (RFC 9126 §4: the pushed ones count).
    FrontChannelOverrides,
    /// Next to `request_uri` at the authorization endpoint, also send a `nonce` other than the
    /// pushed one (RFC 9126 §4: the pushed one counts).
    FrontChannelNonce,
    // Client authentication (FAPI2-SP-5.3.2.1-6, -8, -13)
    /// Authenticate with nothing but `client_id`.
    NoClientAuth,
    /// Authenticate as the client, but send the second client's `client_id` parameter.
    OtherClientId,
    /// Client assertion `aud` value.
    AssertionAud(AudChoice),
    /// Client assertion `iat` and `nbf` shifted by this many seconds (server clock corrected).
    AssertionIatOffset(i64),
    /// Client assertion already expired.
    AssertionExpired,
    /// Client assertion without `exp`.
    AssertionOmitExp,
    /// Client assertion without `nbf` (only `iat` carries the issue time).
    AssertionOmitNbf,
    /// Client assertion with `alg: none`.
    AssertionAlgNone,
    /// Client assertion signed with the second client's key.
    AssertionSignedByOtherClient,
    /// Reuse the previous client assertion (same `jti`).
    AssertionReplay,
    /// Sign the client assertion with RS256 (the client's RSA key, PKCS#1 v1.5 padding).
    AssertionAlgRs256,
    /// Sign the client assertion with HS256, the MAC keyed with the PEM text of the client's
    /// public key, under the client key's `kid` (algorithm confusion, RFC 8725 §2.1).
    AssertionHs256PublicKey,
    /// Sign the client assertion with a fresh key and embed that key's public JWK in the `jwk`
    /// header, with no `kid` (RFC 8725 §3.10: keys named by the token itself are not trusted).
    AssertionEmbeddedJwk,
    /// A correctly signed client assertion whose `crit` header names an unknown extension
    /// (RFC 7515 §4.1.11).
    AssertionUnknownCrit,
    // DPoP (RFC 9449)
    /// No DPoP proof where one is required.
    OmitDpopProof,
    /// Proof with a wrong `htu`.
    DpopWrongHtu,
    /// Proof with a wrong `htm`.
    DpopWrongHtm,
    /// Proof that also carries `nbf` (now) and `exp` (five minutes ahead), claims RFC 9449
    /// does not define and a server must not choke on.
    DpopNbfExp,
    /// Proof `iat` shifted by this many seconds (server clock corrected).
    DpopIatOffset(i64),
    /// Send the previous proof again (same `jti`).
    DpopReplay,
    /// Proof signed by a key other than the one the token is bound to.
    DpopOtherKey,
    /// Proof without the `ath` claim at the resource server.
    DpopOmitAth,
    /// Proof with `typ` other than `dpop+jwt`.
    DpopWrongTyp,
    /// Proof with `alg: none`.
    DpopAlgNone,
    /// Proof signed HS256, the MAC keyed with the JSON text of its own `jwk` header (algorithm
    /// confusion; RFC 9449 §4.3 check 5 demands an asymmetric algorithm).
    DpopHs256Jwk,
    /// A correctly signed proof whose `crit` header names an unknown extension (RFC 7515 §4.1.11).
    DpopUnknownCrit,
    /// Proof whose header segment carries a character outside the base64url alphabet.
    DpopBadBase64url,
    /// Proof whose header is a JSON object followed by a stray `}`: not valid JSON.
    DpopInvalidJsonHeader,
    /// Proof with one character of its signature changed.
    DpopBadSignature,
    /// Proof signed by a fresh key while its `jwk` header names the flow's key.
    DpopJwkOtherKey,
    /// Proof whose `jwk` header includes the private key (`d`).
    DpopJwkPrivate,
    /// Two `DPoP` headers, each a valid proof.
    DpopTwoHeaders,
    /// Proof whose `jti` is this many characters long (RFC 9449 §11.1: large values).
    DpopJtiLength(usize),
    /// Proof whose `htu` has an upper-case scheme and host and an explicit port, also the
    /// default one: the same URI after RFC 3986 §6.2.2/§6.2.3 normalisation.
    DpopHtuUnnormalised,
    /// Send a DPoP proof to PAR instead of `dpop_jkt` (RFC 9449 §10.1); with
    /// `dpop_jkt_mismatch`, send both, naming different keys.
    DpopProofAtPar,
    /// Bind the PAR to a DPoP key thumbprint (`dpop_jkt`) of a different key than the proofs use.
    DpopJktMismatch,
    /// Send no `dpop_jkt` at PAR, so the code is not bound to a DPoP key.
    OmitDpopJkt,
    /// Proof without the `nonce` claim although the server provided a nonce (RFC 9449 §11.3).
    OmitDpopNonce,
    /// Proof whose `nonce` is a random value the server never issued (RFC 9449 §4.3 check 10).
    DpopUnknownNonce,
    // Sender constraint at the resource server
    /// Present a DPoP-bound token as `Bearer` with no proof.
    BearerDowngrade,
    /// Present the token in the query string.
    AccessTokenInQuery,
    /// Present a random string instead of the access token.
    RandomAccessToken,
    /// Present the access token with one character changed.
    TamperedAccessToken,
    /// Write the authorization scheme with every letter's case inverted (`dpOp`, `bEARER`),
    /// which RFC 9110 §11.1 makes the same scheme.
    InvertedAuthScheme,
    /// Call with the second client's certificate.
    OtherClientCert,
    /// Call without a client certificate.
    NoClientCert,
    /// Present a self-signed certificate with the client's subject, from no trusted CA.
    ImpostorClientCert,
    // Replays and cross-client use
    /// Redeem the same code a second time.
    ReuseCode,
    /// Use the same `request_uri` for a second authorization request.
    ReuseRequestUri,
}

/// Which value goes into a client assertion's `aud` (FAPI2-SP-5.3.2.1-8).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AudChoice {
    Issuer,
    TokenEndpoint,
    ParEndpoint,
    /// `["<issuer>"]`: an array holding only the issuer.
    IssuerArray,
    /// `["<issuer>", "https://other.example"]`.
    IssuerAndOther,
    /// A foreign audience.
    Foreign,
    /// No `aud` claim.
    Missing,
}

/// Helpers to ask a mutation list a question.
pub trait Mutations {
    fn has(&self, m: &Mutation) -> bool;
    fn find_map<T>(&self, f: impl Fn(&Mutation) -> Option<T>) -> Option<T>;
}

/// `s` with one character in the middle replaced by another of the same class (letter, digit,
/// `-`/`_`), so it stays well-formed base64url but no longer means the same. The middle, because
/// the last character of a base64url segment may carry padding bits a decoder ignores.
pub fn flip_char(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let Some(i) = (chars.len() / 2..chars.len())
        .chain(0..chars.len() / 2)
        .find(|&i| chars[i] != '.')
    else {
        return "A".to_owned();
    };
    chars[i] = match chars[i] {
        'z' => 'a',
        'Z' => 'A',
        '9' => '0',
        '-' => '_',
        '_' => '-',
        c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
        _ => 'A',
    };
    chars.into_iter().collect()
}

impl Mutations for [Mutation] {
    fn has(&self, m: &Mutation) -> bool {
        self.contains(m)
    }

    fn find_map<T>(&self, f: impl Fn(&Mutation) -> Option<T>) -> Option<T> {
        self.iter().find_map(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_char_changes_one_middle_character() {
        for s in ["abcdef", "aaazaaa", "eyJ.x.9", "-_-_", "a.b"] {
            let t = flip_char(s);
            assert_eq!(t.len(), s.len(), "{s}");
            let diff = s.chars().zip(t.chars()).filter(|(a, b)| a != b).count();
            assert_eq!(diff, 1, "{s} -> {t}");
            assert_eq!(t.matches('.').count(), s.matches('.').count());
        }
        assert_eq!(flip_char("abcdef"), "abceef");
        assert_eq!(flip_char(""), "A");
    }
}
