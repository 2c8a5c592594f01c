//! In-memory state of the reference AS and RS: the clock, random values, and the expiring stores
//! for pushed requests, codes, tokens, replay caches, DPoP nonces and login sessions.
//!
//! Nothing is persisted. Every store is bounded, so a client cannot grow memory without limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Entries per store before new ones are refused: far above any test run, far below exhaustion.
const MAX_ENTRIES: usize = 100_000;

/// The server's clock: system time plus an offset that tests advance instead of sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Now, in seconds since the Unix epoch, as the server sees it.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Moves the server's clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

/// A fresh random value with 256 bits of entropy, base64url (FAPI2-SP-5.4.1-4 asks for 128).
pub fn random_value() -> String {
    random_bytes::<32>()
}

/// `N` random bytes, base64url.
pub fn random_bytes<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    // aws-lc-rs draws from the system RNG; it fails only if the OS has no entropy source, and
    // then nothing secure can be done at all.
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another request must not take the whole server down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A map whose entries vanish at their expiry time.
#[derive(Debug)]
pub struct ExpiringMap<V> {
    inner: Mutex<HashMap<String, (i64, V)>>,
}

impl<V> Default for ExpiringMap<V> {
    fn default() -> Self {
        ExpiringMap {
            inner: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> ExpiringMap<V> {
    /// Stores `value` until `expires_at`. False when the store is full even after pruning.
    pub fn insert(&self, key: String, value: V, expires_at: i64, now: i64) -> bool {
        Self::insert_locked(&mut lock(&self.inner), key, value, expires_at, now)
    }

    /// Stores `key` only if no live entry has it. False for a replay (or a full store). One
    /// lock covers check and insert, so two racing requests cannot both see the key as new.
    pub fn insert_new(&self, key: String, value: V, expires_at: i64, now: i64) -> bool {
        let mut map = lock(&self.inner);
        if map.get(&key).is_some_and(|(exp, _)| *exp > now) {
            return false;
        }
        Self::insert_locked(&mut map, key, value, expires_at, now)
    }

    fn insert_locked(
        map: &mut HashMap<String, (i64, V)>,
        key: String,
        value: V,
        expires_at: i64,
        now: i64,
    ) -> bool {
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (exp, _)| *exp > now);
        }
        if map.len() >= MAX_ENTRIES {
            return false;
        }
        map.insert(key, (expires_at, value));
        true
    }

    /// The live value under `key`.
    pub fn get(&self, key: &str, now: i64) -> Option<V> {
        let map = lock(&self.inner);
        map.get(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v.clone())
    }

    /// Removes and returns the live value under `key`.
    pub fn take(&self, key: &str, now: i64) -> Option<V> {
        let mut map = lock(&self.inner);
        map.remove(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v)
    }

    /// Applies `f` to the live value under `key` and returns what `f` returned.
    pub fn update<R>(&self, key: &str, now: i64, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let mut map = lock(&self.inner);
        map.get_mut(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| f(v))
    }

    /// Removes every entry for which `keep` is false.
    pub fn retain(&self, mut keep: impl FnMut(&V) -> bool) {
        lock(&self.inner).retain(|_, (_, v)| keep(v));
    }

    /// The value under `key`, live or expired but not yet pruned (for the
    /// `rs-accepts-expired-tokens` fault).
    pub fn get_even_expired(&self, key: &str) -> Option<V> {
        lock(&self.inner).get(key).map(|(_, v)| v.clone())
    }

    /// Removes `key`.
    pub fn remove(&self, key: &str) {
        lock(&self.inner).remove(key);
    }
}

/// PKCE challenge as pushed (RFC 7636 §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pkce {
    /// SHA-256 of the verifier, base64url.
    S256(String),
    /// The verifier itself; only accepted with the `pkce-plain-accepted` fault.
    Plain(String),
}

/// An authorization request received at the PAR endpoint (or, with a fault, the front channel).
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    /// The client that pushed it.
    pub client_id: String,
    /// The redirect URI the response goes to (exactly registered).
    pub redirect_uri: String,
    /// Granted scope, space separated.
    pub scope: String,
    /// Returned unchanged in the authorization response.
    pub state: Option<String>,
    /// Copied into the ID token.
    pub nonce: Option<String>,
    /// `None` only with the `pkce-not-required` fault.
    pub pkce: Option<Pkce>,
    /// RFC 9449 §10 binding of the code to a DPoP key (from `dpop_jkt` or a proof at PAR).
    pub dpop_jkt: Option<String>,
}

/// An issued authorization code.
#[derive(Clone, Debug)]
pub struct CodeRecord {
    /// What the code was issued for.
    pub request: AuthorizationRequest,
    /// The end-user.
    pub sub: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: i64,
    /// Set at the first redemption; a second one revokes the grant (RFC 6749 §4.1.2).
    pub used: bool,
    /// Identifies the tokens issued from this code, for revocation on reuse.
    pub grant_id: String,
}

/// How an access token is sender-constrained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// RFC 9449: `cnf.jkt`, the thumbprint of the DPoP key.
    Dpop(String),
    /// RFC 8705: `cnf.x5t#S256` of the client certificate.
    Mtls(String),
    /// Unbound; only with the `bearer-tokens` fault.
    Unbound,
}

impl Binding {
    /// The `token_type` of a token response.
    pub fn token_type(&self) -> &'static str {
        match self {
            Binding::Dpop(_) => "DPoP",
            Binding::Mtls(_) | Binding::Unbound => "Bearer",
        }
    }

    /// The `cnf` claim for introspection.
    pub fn cnf(&self) -> Option<serde_json::Value> {
        match self {
            Binding::Dpop(jkt) => Some(serde_json::json!({ "jkt": jkt })),
            Binding::Mtls(x5t) => Some(serde_json::json!({ "x5t#S256": x5t })),
            Binding::Unbound => None,
        }
    }
}

/// An issued access token.
#[derive(Clone, Debug)]
pub struct AccessRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The end-user.
    pub sub: String,
    /// Granted scope, space separated.
    pub scope: String,
    /// The sender constraint.
    pub binding: Binding,
    /// The grant it came from.
    pub grant_id: String,
    /// Issue time.
    pub iat: i64,
    /// Expiry time.
    pub exp: i64,
}

/// An issued refresh token.
#[derive(Clone, Debug)]
pub struct RefreshRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The end-user.
    pub sub: String,
    /// Granted scope, space separated.
    pub scope: String,
    /// The grant it came from.
    pub grant_id: String,
    /// When the user authenticated, for ID tokens issued on refresh.
    pub auth_time: i64,
}

/// A login in progress when the login form is switched on, keyed by the value of the browser's
/// login cookie.
#[derive(Clone, Debug)]
pub struct LoginSession {
    /// The pushed request being authorized.
    pub request_uri: String,
    /// The anti-CSRF token the session's forms carry: a cookie alone would let any site that
    /// can make the browser post a form act in the session.
    pub csrf: String,
    /// The end-user, once the password was right.
    pub user: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
}

/// All server state.
#[derive(Debug, Default)]
pub struct Store {
    /// Pushed requests by `request_uri`.
    pub pushed: ExpiringMap<AuthorizationRequest>,
    /// Codes by value.
    pub codes: ExpiringMap<CodeRecord>,
    /// Access tokens by value.
    pub access: ExpiringMap<AccessRecord>,
    /// Access tokens the RS validated, kept until they expire: only with the
    /// `rs-accepts-revoked-tokens` fault, which consults this cache before the AS's store.
    pub rs_token_cache: ExpiringMap<AccessRecord>,
    /// Refresh tokens by value.
    pub refresh: ExpiringMap<RefreshRecord>,
    /// Client assertion `jti`s seen, kept until the assertion expires.
    pub assertion_jtis: ExpiringMap<()>,
    /// DPoP proof `jti`s seen, kept for the proof acceptance window.
    pub dpop_jtis: ExpiringMap<()>,
    /// DPoP nonces the AS handed out.
    pub dpop_nonces: ExpiringMap<()>,
    /// DPoP nonces the RS handed out; RFC 9449 §9: a nonce is only good at the server that
    /// issued it.
    pub rs_dpop_nonces: ExpiringMap<()>,
    /// Login sessions by id.
    pub logins: ExpiringMap<LoginSession>,
    /// The last request_uri sequence number (only the `request-uri-counter` fault uses it).
    pub request_uri_seq: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Revokes every access and refresh token of a grant.
    pub fn revoke_grant(&self, grant_id: &str) {
        self.access.retain(|t| t.grant_id != grant_id);
        self.refresh.retain(|t| t.grant_id != grant_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_the_clock() {
        let clock = Clock::default();
        let map = ExpiringMap::default();
        let now = clock.now();
        assert!(map.insert("k".into(), 1, now + 60, now));
        assert_eq!(map.get("k", clock.now()), Some(1));
        clock.advance(61);
        assert_eq!(map.get("k", clock.now()), None);
    }

    #[test]
    fn insert_new_detects_replays_until_expiry() {
        let map = ExpiringMap::default();
        assert!(map.insert_new("jti".into(), (), 100, 0));
        assert!(!map.insert_new("jti".into(), (), 100, 50));
        assert!(map.insert_new("jti".into(), (), 300, 150));
    }

    #[test]
    fn take_is_one_time() {
        let map = ExpiringMap::default();
        map.insert("k".into(), "v", 10, 0);
        assert_eq!(map.take("k", 1), Some("v"));
        assert_eq!(map.take("k", 1), None);
    }

    #[test]
    fn random_values_are_long_and_distinct() {
        let (a, b) = (random_value(), random_value());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
