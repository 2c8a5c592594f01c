//! End-to-end tests of the reference AS and RS over real TLS: the happy flows, the rejections a
//! conformant server must make, and, for every fault, that its misbehaviour shows with the fault
//! on and not without it.
//!
//! Time never passes for real: tests move the server clock and build JWTs from it.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::pki::IssuedCert;
use super::registry::RegisteredClient;
use super::*;
use crate::fapi::jose;
use crate::target::keys::{SigningKey, parse_signing_key, public_key_pem, thumbprint};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A running reference server and the means to talk to it.
struct T {
    server: ReferenceServer,
}

/// What a response showed: status, headers, JSON body (Null when not JSON).
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    /// The body as text (pages).
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Tokens from a token response.
struct Tokens {
    access: String,
    refresh: String,
    token_type: String,
    body: Value,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn s256(verifier: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn dpop_key() -> SigningKey {
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    parse_signing_key(&pem, None, None).unwrap()
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A self-signed certificate with subject `CN=<common_name>`, issued by no trusted CA.
fn self_signed_client(common_name: &str) -> IssuedCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key).unwrap();
    IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        subject_dn: format!("CN={common_name}"),
    }
}

impl T {
    async fn start(faults: &[Fault]) -> T {
        T::with(ReferenceOptions {
            faults: faults.to_vec(),
            ..ReferenceOptions::default()
        })
        .await
    }

    async fn with(opts: ReferenceOptions) -> T {
        T {
            server: start(opts).await.unwrap(),
        }
    }

    fn now(&self) -> i64 {
        self.server.app().now()
    }

    fn client(&self, id: &str) -> &RegisteredClient {
        self.server.app().client(id).unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.issuer())
    }

    /// An HTTP client trusting only the test CA, optionally presenting `cert`.
    fn http(&self, cert: Option<&IssuedCert>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.server.ca_pem().as_bytes()).unwrap();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only([ca]);
        if let Some(c) = cert {
            let pem = format!("{}\n{}", c.cert_pem, c.key_pem);
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    /// The client's HTTP client: with its certificate for tls_client_auth, without otherwise.
    fn http_for(&self, c: &RegisteredClient) -> reqwest::Client {
        match c.auth {
            crate::plan::ClientAuth::TlsClientAuth => self.http(Some(&c.cert)),
            crate::plan::ClientAuth::PrivateKeyJwt => self.http(None),
        }
    }

    /// A client assertion for `c` with `aud` = issuer, after `tweak` edits the claims.
    /// The claims of a correct client assertion by `c`.
    fn assertion_claims(&self, c: &RegisteredClient) -> Value {
        let now = self.now();
        json!({
            "iss": c.client_id, "sub": c.client_id, "aud": self.server.issuer(),
            "jti": state::random_value(), "iat": now, "exp": now + 60,
        })
    }

    fn assertion_with(&self, c: &RegisteredClient, tweak: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.assertion_claims(c);
        tweak(&mut claims);
        let key = c.signing_key.as_ref().unwrap();
        jws::sign(
            &json!({"alg": key.alg.as_str(), "kid": key.kid}),
            &claims,
            key,
        )
        .unwrap()
    }

    /// Client authentication parameters for `c`.
    fn auth(&self, c: &RegisteredClient) -> Vec<(String, String)> {
        let mut p = form(&[("client_id", &c.client_id)]);
        if c.signing_key.is_some() {
            p.extend(form(&[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &self.assertion_with(c, |_| {})),
            ]));
        }
        p
    }

    /// Authorization request parameters with PKCE S256 for `verifier`.
    fn request(&self, c: &RegisteredClient, verifier: &str) -> Vec<(String, String)> {
        form(&[
            ("response_type", "code"),
            ("redirect_uri", &c.redirect_uri),
            ("scope", "openid accounts"),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("code_challenge", &s256(verifier)),
            ("code_challenge_method", "S256"),
        ])
    }

    /// A DPoP proof by `key` for `method url`, after `tweak` edits the claims.
    fn proof_with(
        &self,
        key: &SigningKey,
        method: &str,
        url: &str,
        tweak: impl FnOnce(&mut Value),
    ) -> String {
        let mut claims =
            json!({"jti": state::random_value(), "htm": method, "htu": url, "iat": self.now()});
        tweak(&mut claims);
        let header = json!({"typ": "dpop+jwt", "alg": key.alg.as_str(), "jwk": key.public_jwk});
        jws::sign(&header, &claims, key).unwrap()
    }

    fn proof(&self, key: &SigningKey, method: &str, url: &str) -> String {
        self.proof_with(key, method, url, |_| {})
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &[(String, String)],
        dpop: Option<String>,
    ) -> Reply {
        let mut req = http.post(self.url(path)).form(body);
        if let Some(p) = dpop {
            req = req.header("DPoP", p);
        }
        self.send(req).await
    }

    /// PAR for `c` with its own authentication plus `params`.
    async fn push(
        &self,
        c: &RegisteredClient,
        params: Vec<(String, String)>,
        dpop: Option<String>,
    ) -> Reply {
        let mut body = self.auth(c);
        body.extend(params);
        self.post(&self.http_for(c), "/par", &body, dpop).await
    }

    async fn get(&self, http: &reqwest::Client, url: &str) -> Reply {
        self.send(http.get(url)).await
    }

    /// Pushes a valid request and follows it to the authorization redirect.
    async fn authorize(
        &self,
        c: &RegisteredClient,
        verifier: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut params = self.request(c, verifier);
        params.extend(form(extra));
        let pushed = self.push(c, params, None).await;
        assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
        let uri = pushed.body["request_uri"].as_str().unwrap();
        self.authorize_uri(c, uri).await
    }

    async fn authorize_uri(&self, c: &RegisteredClient, request_uri: &str) -> Reply {
        self.authorize_uri_with(c, request_uri, &[]).await
    }

    /// The authorization request for `request_uri`, with `front` next to it in the query.
    async fn authorize_uri_with(
        &self,
        c: &RegisteredClient,
        request_uri: &str,
        front: &[(&str, &str)],
    ) -> Reply {
        let mut query = vec![
            ("client_id", c.client_id.as_str()),
            ("request_uri", request_uri),
        ];
        query.extend_from_slice(front);
        let url = url::Url::parse_with_params(&self.url("/authorize"), query).unwrap();
        self.get(&self.http(None), url.as_str()).await
    }

    /// Pushes `params` and answers the authorization request for the `request_uri`, with `front`
    /// next to it in the query.
    async fn push_then_authorize(
        &self,
        c: &RegisteredClient,
        params: Vec<(String, String)>,
        front: &[(&str, &str)],
    ) -> Reply {
        let pushed = self.push(c, params, None).await;
        let uri = pushed.body["request_uri"].as_str().unwrap_or_default();
        self.authorize_uri_with(c, uri, front).await
    }

    /// The `nonce` of the ID token redeemed from an authorization response for the mTLS client `c`.
    async fn id_token_nonce(
        &self,
        c: &RegisteredClient,
        authorized: &Reply,
        verifier: &str,
    ) -> Option<String> {
        let code = query_of(authorized.header("location")?)
            .get("code")?
            .clone();
        let res = self
            .redeem(c, &self.http(Some(&c.cert)), &code, verifier, None)
            .await;
        let id = jws::parse(res.body["id_token"].as_str()?).ok()?;
        id.claim_str("nonce").map(str::to_owned)
    }

    /// The code from a pushed, approved request.
    async fn code(&self, c: &RegisteredClient, verifier: &str, extra: &[(&str, &str)]) -> String {
        let res = self.authorize(c, verifier, extra).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        query_of(res.header("location").unwrap())["code"].clone()
    }

    /// Redeems `code`, with a DPoP proof by `key` if given (else over the client's connection).
    async fn redeem(
        &self,
        c: &RegisteredClient,
        http: &reqwest::Client,
        code: &str,
        verifier: &str,
        key: Option<&SigningKey>,
    ) -> Reply {
        let mut body = self.auth(c);
        body.extend(form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", verifier),
        ]));
        let proof = key.map(|k| self.proof(k, "POST", &self.url("/token")));
        self.post(http, "/token", &body, proof).await
    }

    /// Redeems `c`'s code with a DPoP proof by `key`, authenticated by the `auth` parameters
    /// (another client's, or none) instead of `c`'s own.
    async fn redeem_authenticated_by(
        &self,
        auth: Vec<(String, String)>,
        c: &RegisteredClient,
        code: &str,
        verifier: &str,
        key: &SigningKey,
    ) -> Reply {
        let mut body = auth;
        body.extend(form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", verifier),
        ]));
        let proof = self.proof(key, "POST", &self.url("/token"));
        self.post(&self.http(None), "/token", &body, Some(proof))
            .await
    }

    /// Redeems `code` with a DPoP proof by `key` whose claims `tweak` adjusts.
    async fn redeem_with(
        &self,
        c: &RegisteredClient,
        code: &str,
        verifier: &str,
        key: &SigningKey,
        tweak: impl FnOnce(&mut Value),
    ) -> Reply {
        let mut body = self.auth(c);
        body.extend(form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", verifier),
        ]));
        let proof = self.proof_with(key, "POST", &self.url("/token"), tweak);
        self.post(&self.http_for(c), "/token", &body, Some(proof))
            .await
    }

    /// Redeems `code` with a DPoP proof by `key` carrying `nonce` (none when `None`).
    async fn redeem_nonce(
        &self,
        c: &RegisteredClient,
        code: &str,
        verifier: &str,
        key: &SigningKey,
        nonce: Option<&str>,
    ) -> Reply {
        self.redeem_with(c, code, verifier, key, |cl| {
            if let Some(n) = nonce {
                cl["nonce"] = json!(n);
            }
        })
        .await
    }

    /// A DPoP-bound access token from a server that may demand nonces: a first proof without
    /// nonce, and if challenged, a second one with the nonce.
    async fn nonce_tokens(&self, c: &RegisteredClient, key: &SigningKey) -> String {
        let verifier = state::random_value();
        let code = self.code(c, &verifier, &[]).await;
        let mut res = self.redeem_nonce(c, &code, &verifier, key, None).await;
        if res.body["error"] == "use_dpop_nonce" {
            let nonce = res.header("dpop-nonce").unwrap().to_owned();
            res = self
                .redeem_nonce(c, &code, &verifier, key, Some(&nonce))
                .await;
        }
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.body["access_token"].as_str().unwrap().to_owned()
    }

    /// GET the resource with a DPoP-bound token and a proof carrying `nonce`.
    async fn resource_nonce(&self, at: &str, key: &SigningKey, nonce: Option<&str>) -> Reply {
        let url = self.server.resource_url();
        let proof = self.proof_with(key, "GET", url, |c| {
            c["ath"] = json!(s256(at));
            if let Some(n) = nonce {
                c["nonce"] = json!(n);
            }
        });
        let req = self
            .http(None)
            .get(url)
            .header("Authorization", format!("DPoP {at}"))
            .header("DPoP", proof);
        self.send(req).await
    }

    /// A complete flow up to tokens: DPoP-bound when `key` is given, else certificate-bound.
    async fn tokens(&self, c: &RegisteredClient, key: Option<&SigningKey>) -> Tokens {
        let verifier = state::random_value();
        let code = self.code(c, &verifier, &[]).await;
        let http = if key.is_some() {
            self.http_for(c)
        } else {
            self.http(Some(&c.cert))
        };
        let res = self.redeem(c, &http, &code, &verifier, key).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        Tokens {
            access: res.body["access_token"].as_str().unwrap().to_owned(),
            refresh: res.body["refresh_token"].as_str().unwrap().to_owned(),
            token_type: res.body["token_type"].as_str().unwrap().to_owned(),
            body: res.body,
        }
    }

    /// GET the resource with a DPoP-bound token and a fresh proof.
    async fn resource_dpop(&self, at: &str, key: &SigningKey) -> Reply {
        let url = self.server.resource_url();
        let proof = self.proof_with(key, "GET", url, |c| c["ath"] = json!(s256(at)));
        let req = self
            .http(None)
            .get(url)
            .header("Authorization", format!("DPoP {at}"))
            .header("DPoP", proof);
        self.send(req).await
    }

    /// GET the resource with `Bearer` over a connection presenting `cert`.
    async fn resource_bearer(&self, at: &str, cert: Option<&IssuedCert>) -> Reply {
        let req = self
            .http(cert)
            .get(self.server.resource_url())
            .header("Authorization", format!("Bearer {at}"));
        self.send(req).await
    }
}

#[tokio::test]
async fn private_key_jwt_with_dpop_happy_flow() {
    let t = T::start(&[]).await;
    let c = t.client("client-pkj-1");
    let key = dpop_key();

    let verifier = state::random_value();
    let res = t
        .authorize(c, &verifier, &[("dpop_jkt", &thumbprint(&key.public_jwk))])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.header("strict-transport-security").is_some());
    let q = query_of(res.header("location").unwrap());
    assert!(res.header("location").unwrap().starts_with(&c.redirect_uri));
    assert_eq!(q["iss"], t.server.issuer());
    assert_eq!(q["state"], "st-1");

    let res = t
        .redeem(c, &t.http(None), &q["code"], &verifier, Some(&key))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.body["token_type"], "DPoP");
    assert_eq!(res.body["expires_in"], 60);
    let at = res.body["access_token"].as_str().unwrap().to_owned();

    // The ID token verifies with the published key and carries the OIDC claims.
    let jwks = t.get(&t.http(None), &t.url("/jwks")).await.body;
    let id = jws::parse(res.body["id_token"].as_str().unwrap()).unwrap();
    assert!(id.verify(&jwks["keys"][0], jws::Alg::Ps256));
    assert_eq!(id.claim_str("iss"), Some(t.server.issuer()));
    assert_eq!(id.claim_str("aud"), Some("client-pkj-1"));
    assert_eq!(id.claim_str("nonce"), Some("n-1"));
    assert!(id.claim_time("auth_time").is_some() && id.claim_time("exp").is_some());

    let ok = t.resource_dpop(&at, &key).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    assert!(ok.header("x-fapi-interaction-id").is_some());
    // Another key, a missing proof, or the Bearer scheme do not pass.
    assert_eq!(
        t.resource_dpop(&at, &dpop_key()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let bare = t
        .send(
            t.http(None)
                .get(t.server.resource_url())
                .header("Authorization", format!("DPoP {at}")),
        )
        .await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert!(
        bare.header("www-authenticate")
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\"")
    );
    assert_eq!(
        t.resource_bearer(&at, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Userinfo is sender-constrained the same way.
    let proof = t.proof_with(&key, "GET", &t.url("/userinfo"), |cl| {
        cl["ath"] = json!(s256(&at))
    });
    let ui = t
        .send(
            t.http(None)
                .get(t.url("/userinfo"))
                .header("Authorization", format!("DPoP {at}"))
                .header("DPoP", proof),
        )
        .await;
    assert_eq!(ui.status, StatusCode::OK);
    assert_eq!(ui.body["sub"], "alice");

    // Introspection shows the binding.
    let mut body = t.auth(c);
    body.extend(form(&[("token", &at)]));
    let intro = t.post(&t.http(None), "/introspect", &body, None).await;
    assert_eq!(intro.body["active"], true);
    assert_eq!(intro.body["cnf"]["jkt"], thumbprint(&key.public_jwk));
    assert_eq!(intro.body["client_id"], "client-pkj-1");
    // Another client learns nothing about it.
    let other = t.client("client-pkj-2");
    let mut body = t.auth(other);
    body.extend(form(&[("token", &at)]));
    assert_eq!(
        t.post(&t.http(None), "/introspect", &body, None).await.body,
        json!({"active": false})
    );
}

#[tokio::test]
async fn tls_client_auth_with_mtls_bound_tokens_refresh_and_revocation() {
    let t = T::start(&[]).await;
    let c = t.client("client-mtls-1");
    let tokens = t.tokens(c, None).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.body.get("id_token").is_some());

    assert_eq!(
        t.resource_bearer(&tokens.access, Some(&c.cert))
            .await
            .status,
        StatusCode::OK
    );
    let other = &t.client("client-mtls-2").cert;
    let wrong = t.resource_bearer(&tokens.access, Some(other)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );
    assert_eq!(
        t.resource_bearer(&tokens.access, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A token in the query is refused even next to a valid header.
    let url =
        url::Url::parse_with_params(t.server.resource_url(), [("access_token", &tokens.access)])
            .unwrap();
    let req = t
        .http(Some(&c.cert))
        .get(url)
        .header("Authorization", format!("Bearer {}", tokens.access));
    assert_eq!(t.send(req).await.status, StatusCode::BAD_REQUEST);

    let mut body = t.auth(c);
    body.extend(form(&[("token", &tokens.access)]));
    let intro = t.post(&t.http_for(c), "/introspect", &body, None).await;
    assert_eq!(intro.body["cnf"]["x5t#S256"], pki::x5t_s256(&c.cert.der));

    // Refresh: same refresh token back (no rotation), a new working access token.
    let mut body = t.auth(c);
    body.extend(form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &tokens.refresh),
    ]));
    let refreshed = t.post(&t.http_for(c), "/token", &body, None).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(refreshed.body["refresh_token"], tokens.refresh.as_str());
    let at2 = refreshed.body["access_token"].as_str().unwrap();
    assert_ne!(at2, tokens.access);
    assert_eq!(
        t.resource_bearer(at2, Some(&c.cert)).await.status,
        StatusCode::OK
    );

    // Access tokens expire at the RS; the refresh token still works.
    t.server.advance_clock(61);
    assert_eq!(
        t.resource_bearer(at2, Some(&c.cert)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut body = t.auth(c);
    body.extend(form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &tokens.refresh),
    ]));
    let refreshed = t.post(&t.http_for(c), "/token", &body, None).await;
    let at2 = refreshed.body["access_token"].as_str().unwrap();
    assert_eq!(
        t.resource_bearer(at2, Some(&c.cert)).await.status,
        StatusCode::OK
    );

    // Revoking the refresh token ends the grant's access tokens too (RFC 7009 §2.1).
    let mut body = t.auth(c);
    body.extend(form(&[("token", &tokens.refresh)]));
    assert_eq!(
        t.post(&t.http_for(c), "/revoke", &body, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.resource_bearer(at2, Some(&c.cert)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn private_key_jwt_client_gets_certificate_bound_tokens_without_dpop() {
    let t = T::start(&[]).await;
    let c = t.client("client-pkj-2");
    let tokens = t.tokens(c, None).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(
        t.resource_bearer(&tokens.access, Some(&c.cert))
            .await
            .status,
        StatusCode::OK
    );
    // No proof and no certificate: no token at all.
    let verifier = state::random_value();
    let code = t.code(c, &verifier, &[]).await;
    let res = t.redeem(c, &t.http(None), &code, &verifier, None).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn conformant_rejections() {
    let t = T::start(&[]).await;
    let c = t.client("client-pkj-1");
    let http = t.http(None);
    let verifier = state::random_value();

    // PAR: request_uri in the body, unknown client, another client's redirect URI, bad scope.
    let mut p = t.request(c, &verifier);
    p.extend(form(&[("request_uri", "urn:x")]));
    assert_eq!(t.push(c, p, None).await.status, StatusCode::BAD_REQUEST);
    let mut p = t.request(c, &verifier);
    p.retain(|(k, _)| k != "redirect_uri");
    p.extend(form(&[(
        "redirect_uri",
        &t.client("client-pkj-2").redirect_uri,
    )]));
    assert_eq!(t.push(c, p, None).await.body["error"], "invalid_request");
    let mut p = t.request(c, &verifier);
    p.retain(|(k, _)| k != "scope");
    p.extend(form(&[("scope", "openid admin")]));
    assert_eq!(t.push(c, p, None).await.body["error"], "invalid_scope");
    let mut p = t.request(c, &verifier);
    p.retain(|(k, _)| k != "response_type");
    p.extend(form(&[("response_type", "code id_token")]));
    assert_eq!(
        t.push(c, p, None).await.body["error"],
        "unsupported_response_type"
    );
    let unknown = t
        .post(&http, "/par", &form(&[("client_id", "nobody")]), None)
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(
        t.send(http.get(t.url("/par"))).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    // Authorization endpoint: unknown client and bad request_uri give a page, never a redirect.
    let page = t
        .get(
            &http,
            &t.url("/authorize?client_id=nobody&redirect_uri=https://evil.example/cb"),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.header("location").is_none());
    let page = t
        .authorize_uri(c, "urn:ietf:params:oauth:request_uri:nope")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // Another client's request_uri is refused.
    let pushed = t.push(c, t.request(c, &verifier), None).await;
    let other = t.client("client-pkj-2");
    let uri = pushed.body["request_uri"].as_str().unwrap();
    assert_eq!(
        t.authorize_uri(other, uri).await.status,
        StatusCode::BAD_REQUEST
    );
    // A front-channel request with the registered redirect URI gets an error redirect with iss.
    let url = url::Url::parse_with_params(
        &t.url("/authorize"),
        [
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", &c.redirect_uri),
            ("response_type", "code"),
            ("state", "s"),
        ],
    )
    .unwrap();
    let res = t.get(&http, url.as_str()).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let q = query_of(res.header("location").unwrap());
    assert_eq!(
        (q["error"].as_str(), q["iss"].as_str(), q["state"].as_str()),
        ("invalid_request", t.server.issuer(), "s")
    );

    // Token endpoint: grant types FAPI forbids or we do not offer.
    for grant in ["password", "client_credentials"] {
        let mut body = t.auth(c);
        body.extend(form(&[
            ("grant_type", grant),
            ("username", "alice"),
            ("password", "x"),
        ]));
        let res = t.post(&http, "/token", &body, None).await;
        assert_eq!(res.body["error"], "unsupported_grant_type");
    }

    // A code expires after 60 s; a reused code revokes its tokens.
    let key = dpop_key();
    let code = t.code(c, &verifier, &[]).await;
    t.server.advance_clock(61);
    assert_eq!(
        t.redeem(c, &http, &code, &verifier, Some(&key)).await.body["error"],
        "invalid_grant"
    );
    let code = t.code(c, &verifier, &[]).await;
    let first = t.redeem(c, &http, &code, &verifier, Some(&key)).await;
    let at = first.body["access_token"].as_str().unwrap();
    assert_eq!(t.resource_dpop(at, &key).await.status, StatusCode::OK);
    assert_eq!(
        t.redeem(c, &http, &code, &verifier, Some(&key)).await.body["error"],
        "invalid_grant"
    );
    assert_eq!(
        t.resource_dpop(at, &key).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Assertions and proofs 8 s in the future pass (FAPI2-SP-5.3.2.1-13.a).
    let mut p = form(&[
        ("client_id", &c.client_id),
        ("client_assertion_type", JWT_BEARER),
    ]);
    let now = t.now();
    p.push((
        "client_assertion".into(),
        t.assertion_with(c, |cl| {
            cl["iat"] = json!(now + 8);
            cl["nbf"] = json!(now + 8);
        }),
    ));
    p.extend(t.request(c, &verifier));
    let proof = t.proof_with(&key, "POST", &t.url("/par"), |cl| {
        cl["iat"] = json!(now + 8)
    });
    assert_eq!(
        t.post(&http, "/par", &p, Some(proof)).await.status,
        StatusCode::CREATED
    );

    // Scope: a token without `accounts` gets 403 insufficient_scope at the RS.
    let mut p = t.request(c, &verifier);
    p.retain(|(k, _)| k != "scope");
    p.extend(form(&[("scope", "openid")]));
    let pushed = t.push(c, p, None).await;
    let res = t
        .authorize_uri(c, pushed.body["request_uri"].as_str().unwrap())
        .await;
    let code = query_of(res.header("location").unwrap())["code"].clone();
    let tok = t.redeem(c, &http, &code, &verifier, Some(&key)).await;
    let res = t
        .resource_dpop(tok.body["access_token"].as_str().unwrap(), &key)
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(
        res.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn login_form_requires_the_password_and_consent() {
    let t = T::with(ReferenceOptions {
        login_form: true,
        login_password: "correct horse".into(),
        ..ReferenceOptions::default()
    })
    .await;
    let c = t.client("client-mtls-2");
    let http = t.http(None);
    let verifier = state::random_value();
    // The login page, not a redirect, answers the authorization request.
    let login = login_session(&t, c, &verifier).await;
    assert!(t.server.login_cookies().contains(&login.cookie));
    let wrong = t
        .send(login.post(&http, &t, "/login", &login.credentials("nope")))
        .await;
    assert!(wrong.text.contains("Wrong username or password"));
    let consent = t
        .send(login.post(&http, &t, "/login", &login.credentials("correct horse")))
        .await;
    assert!(consent.text.contains("client-mtls-2") && consent.text.contains("openid accounts"));
    let approve = form(&[("csrf", &login.csrf), ("decision", "approve")]);
    let res = t.send(login.post(&http, &t, "/consent", &approve)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(query_of(res.header("location").unwrap()).contains_key("code"));

    // Denying redirects with access_denied and iss.
    let login = login_session(&t, c, &verifier).await;
    t.send(login.post(&http, &t, "/login", &login.credentials("correct horse")))
        .await;
    let deny = form(&[("csrf", &login.csrf), ("decision", "deny")]);
    let res = t.send(login.post(&http, &t, "/consent", &deny)).await;
    let q = query_of(res.header("location").unwrap());
    assert_eq!(
        (q["error"].as_str(), q["iss"].as_str()),
        ("access_denied", t.server.issuer())
    );
}

#[tokio::test]
async fn login_form_needs_the_session_cookie_and_its_csrf_token() {
    let t = T::with(ReferenceOptions {
        login_form: true,
        login_password: "correct horse".into(),
        ..ReferenceOptions::default()
    })
    .await;
    let c = t.client("client-mtls-2");
    let http = t.http(None);
    let login = login_session(&t, c, &state::random_value()).await;
    let creds = login.credentials("correct horse");
    // Without the cookie the form is refused, however right the password.
    let res = t.send(http.post(t.url("/login")).form(&creds)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.text.contains("no login session cookie"));
    // With the cookie but another session's token, too.
    let other = login_session(&t, c, &state::random_value()).await;
    let res = t
        .send(login.post(&http, &t, "/login", &other.credentials("correct horse")))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.text.contains("does not belong"));
}

/// A login in progress, as the browser holds it: the session cookie and the form's CSRF token.
struct LoginPage {
    cookie: String,
    csrf: String,
}

impl LoginPage {
    fn credentials(&self, pw: &str) -> Vec<(String, String)> {
        form(&[
            ("csrf", &self.csrf),
            ("username", "alice"),
            ("password", pw),
        ])
    }

    fn post(
        &self,
        http: &reqwest::Client,
        t: &T,
        path: &str,
        body: &[(String, String)],
    ) -> reqwest::RequestBuilder {
        http.post(t.url(path))
            .header("cookie", format!("__Host-login={}", self.cookie))
            .form(body)
    }
}

/// Pushes a request and opens the login page: its cookie and the form's CSRF token.
async fn login_session(t: &T, c: &RegisteredClient, verifier: &str) -> LoginPage {
    let res = t.authorize(c, verifier, &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    let pushed = t.push(c, t.request(c, verifier), None).await;
    let uri = pushed.body["request_uri"].as_str().unwrap();
    let res = t.authorize_uri(c, uri).await;
    let set_cookie = res.header("set-cookie").unwrap();
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(set_cookie.contains(attr), "{set_cookie} lacks {attr}");
    }
    let cookie = set_cookie
        .strip_prefix("__Host-login=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = res
        .text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        !res.text.contains(&cookie),
        "the cookie value stays out of the page"
    );
    LoginPage { cookie, csrf }
}

#[tokio::test]
async fn dpop_nonce_mode_challenges_first() {
    let t = T::with(ReferenceOptions {
        dpop_nonce: true,
        ..ReferenceOptions::default()
    })
    .await;
    let c = t.client("client-pkj-1");
    let key = dpop_key();
    let verifier = state::random_value();
    let code = t.code(c, &verifier, &[]).await;
    let challenge = t
        .redeem(c, &t.http(None), &code, &verifier, Some(&key))
        .await;
    assert_eq!(challenge.status, StatusCode::BAD_REQUEST);
    assert_eq!(challenge.body["error"], "use_dpop_nonce");
    let nonce = challenge.header("dpop-nonce").unwrap().to_owned();
    let mut body = t.auth(c);
    body.extend(form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &c.redirect_uri),
        ("code_verifier", &verifier),
    ]));
    let proof = t.proof_with(&key, "POST", &t.url("/token"), |cl| {
        cl["nonce"] = json!(nonce)
    });
    let res = t.post(&t.http(None), "/token", &body, Some(proof)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["token_type"], "DPoP");
}

#[tokio::test]
async fn dpop_nonce_mode_challenges_at_the_rs_with_its_own_nonces() {
    let t = T::with(ReferenceOptions {
        dpop_nonce: true,
        ..ReferenceOptions::default()
    })
    .await;
    let c = t.client("client-pkj-1");
    let key = dpop_key();
    let verifier = state::random_value();
    let code = t.code(c, &verifier, &[]).await;
    let as_nonce = t
        .redeem_nonce(c, &code, &verifier, &key, None)
        .await
        .header("dpop-nonce")
        .unwrap()
        .to_owned();
    let at = t.nonce_tokens(c, &key).await;
    let challenge = t.resource_nonce(&at, &key, None).await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    let www = challenge.header("www-authenticate").unwrap();
    assert!(www.starts_with("DPoP error=\"use_dpop_nonce\""), "{www}");
    let nonce = challenge.header("dpop-nonce").unwrap().to_owned();
    // RFC 9449 §9: the AS's nonce is not the RS's.
    let other = t.resource_nonce(&at, &key, Some(&as_nonce)).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    let res = t.resource_nonce(&at, &key, Some(&nonce)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn metadata_and_written_target_describe_the_server() {
    let t = T::start(&[]).await;
    let http = t.http(None);
    let oidc = t
        .get(&http, &t.url("/.well-known/openid-configuration"))
        .await;
    let oauth = t
        .get(&http, &t.url("/.well-known/oauth-authorization-server"))
        .await;
    assert_eq!(oidc.body, oauth.body);
    assert_eq!(oidc.header("content-type"), Some("application/json"));
    assert_eq!(
        oidc.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
    assert_eq!(oidc.body["issuer"], t.server.issuer());
    assert!(!t.server.issuer().ends_with('/'));
    assert_eq!(oidc.body["require_pushed_authorization_requests"], true);
    assert_eq!(
        oidc.body["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let jwks = t
        .get(&http, oidc.body["jwks_uri"].as_str().unwrap())
        .await
        .body;
    assert!(jwks["keys"][0].get("d").is_none());
    // Every response carries HSTS, also those axum makes itself.
    let missing = t.get(&http, &t.url("/no-such-path")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.header("strict-transport-security").is_some());
    // TLS 1.2 is served as well as 1.3.
    let ca = reqwest::Certificate::from_pem(t.server.ca_pem().as_bytes()).unwrap();
    let tls12 = reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(t.get(&tls12, &t.url("/jwks")).await.status, StatusCode::OK);

    let dir = tempfile::tempdir().unwrap();
    let path = t.server.write_target(dir.path()).unwrap();
    let target = crate::target::load_target(&path, &crate::redact::Redactor::new()).unwrap();
    assert_eq!(target.issuer, t.server.issuer());
    assert_eq!(target.clients.len(), 4);
    assert_eq!(target.resources[0].url.as_str(), t.server.resource_url());
    let pkj = &target.clients[0];
    assert_eq!(pkj.signing_key.as_ref().unwrap().public_jwk["kty"], "EC");
    assert_eq!(
        pkj.redirect_uris[0].as_str(),
        t.client("client-pkj-1").redirect_uri
    );
    assert_eq!(
        target.clients[2].cert.as_ref().unwrap().subject,
        "CN=client-mtls-1"
    );
    t.server.shutdown().await;
}

/// Whether the server shows `fault`'s misbehaviour. Each arm is the probe a harness check would
/// make; the exhaustive match makes adding a fault without a probe a compile error.
async fn misbehaves(t: &T, fault: Fault) -> bool {
    let pkj = t.client("client-pkj-1");
    let mtls = t.client("client-mtls-1");
    let http = t.http(None);
    let verifier = state::random_value();
    let key = dpop_key();
    let push_status = |p: Reply| p.status == StatusCode::CREATED;
    let metadata = || async {
        t.get(&t.http(None), &t.url("/.well-known/openid-configuration"))
            .await
            .body
    };
    let without = |mut p: Vec<(String, String)>, name: &str| {
        p.retain(|(k, _)| k != name);
        p
    };
    let with = |p: Vec<(String, String)>, name: &str, value: &str| {
        let mut p = without(p, name);
        p.push((name.to_owned(), value.to_owned()));
        p
    };
    // PAR for pkj with a hand-made assertion.
    let push_assertion = |assertion: String| {
        let mut p = form(&[
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ]);
        p.extend(t.request(pkj, &verifier));
        async move { t.post(&t.http(None), "/par", &p, None).await }
    };
    match fault {
        Fault::ParNotRequired => {
            let mut q = t.request(pkj, &verifier);
            q.push(("client_id".into(), pkj.client_id.clone()));
            let url = url::Url::parse_with_params(&t.url("/authorize"), q).unwrap();
            let res = t.get(&http, url.as_str()).await;
            res.header("location")
                .is_some_and(|l| query_of(l).contains_key("code"))
        }
        Fault::ParStatus200 => {
            t.push(pkj, t.request(pkj, &verifier), None).await.status == StatusCode::OK
        }
        Fault::ParRequestUriReusable => {
            let pushed = t.push(pkj, t.request(pkj, &verifier), None).await;
            let uri = pushed.body["request_uri"].as_str().unwrap();
            let _ = t.authorize_uri(pkj, uri).await;
            t.authorize_uri(pkj, uri).await.status == StatusCode::SEE_OTHER
        }
        Fault::RequestUriNeverExpires => {
            let pushed = t.push(pkj, t.request(pkj, &verifier), None).await;
            let Some(uri) = pushed.body["request_uri"].as_str() else {
                return false;
            };
            t.server.advance_clock(90);
            t.authorize_uri(pkj, uri).await.status == StatusCode::SEE_OTHER
        }
        Fault::RequestUriNotBoundToClient => {
            let pushed = t.push(pkj, t.request(pkj, &verifier), None).await;
            let Some(uri) = pushed.body["request_uri"].as_str() else {
                return false;
            };
            let other = t.client("client-pkj-2");
            t.authorize_uri(other, uri).await.status == StatusCode::SEE_OTHER
        }
        Fault::StateRequired => !push_status(
            t.push(pkj, without(t.request(pkj, &verifier), "state"), None)
                .await,
        ),
        Fault::ParLongExpiry => {
            t.push(pkj, t.request(pkj, &verifier), None).await.body["expires_in"]
                .as_i64()
                .unwrap()
                >= 600
        }
        Fault::ParUnauthenticated => {
            let mut p = form(&[("client_id", &pkj.client_id)]);
            p.extend(t.request(pkj, &verifier));
            push_status(t.post(&http, "/par", &p, None).await)
        }
        Fault::ParRedirectUriOptional => push_status(
            t.push(
                pkj,
                without(t.request(pkj, &verifier), "redirect_uri"),
                None,
            )
            .await,
        ),
        Fault::ResponseTypeNotChecked => {
            let p = with(t.request(pkj, &verifier), "response_type", "token");
            let pushed = t.push(pkj, p, None).await;
            let Some(uri) = pushed.body["request_uri"].as_str() else {
                return false;
            };
            t.authorize_uri(pkj, uri)
                .await
                .header("location")
                .is_some_and(|l| query_of(l).contains_key("code"))
        }
        Fault::NonceMax32 => {
            let p = with(t.request(pkj, &verifier), "nonce", &"n".repeat(64));
            !push_status(t.push(pkj, p, None).await)
        }
        Fault::PkceNotRequired => push_status(
            t.push(
                pkj,
                without(t.request(pkj, &verifier), "code_challenge"),
                None,
            )
            .await,
        ),
        Fault::PkcePlainAccepted => {
            let p = with(t.request(pkj, &verifier), "code_challenge", &verifier);
            push_status(
                t.push(pkj, with(p, "code_challenge_method", "plain"), None)
                    .await,
            )
        }
        Fault::PkceVerifierNotChecked => {
            let code = t.code(pkj, &verifier, &[]).await;
            let other = state::random_value();
            t.redeem(pkj, &http, &code, &other, Some(&key)).await.status == StatusCode::OK
        }
        Fault::AuthorizationResponseNoIss => {
            let res = t.authorize(pkj, &verifier, &[]).await;
            !query_of(res.header("location").unwrap()).contains_key("iss")
        }
        Fault::AuthorizationRedirect302 => {
            t.authorize(pkj, &verifier, &[]).await.status == StatusCode::FOUND
        }
        Fault::OpenRedirect => {
            let url = url::Url::parse_with_params(
                &t.url("/authorize"),
                [
                    ("client_id", "client-pkj-1"),
                    ("redirect_uri", "https://evil.example/cb"),
                ],
            )
            .unwrap();
            let res = t.get(&http, url.as_str()).await;
            res.header("location")
                .is_some_and(|l| l.starts_with("https://evil.example/"))
        }
        Fault::CodeLifetime120s => {
            let code = t.code(pkj, &verifier, &[]).await;
            t.server.advance_clock(90);
            t.redeem(pkj, &http, &code, &verifier, Some(&key))
                .await
                .status
                == StatusCode::OK
        }
        Fault::CodeReusable => {
            let code = t.code(pkj, &verifier, &[]).await;
            let _ = t.redeem(pkj, &http, &code, &verifier, Some(&key)).await;
            t.redeem(pkj, &http, &code, &verifier, Some(&key))
                .await
                .status
                == StatusCode::OK
        }
        Fault::CodeNotBoundToClient => {
            let code = t.code(pkj, &verifier, &[]).await;
            let other = t.auth(t.client("client-pkj-2"));
            let res = t
                .redeem_authenticated_by(other, pkj, &code, &verifier, &key)
                .await;
            res.status == StatusCode::OK
        }
        Fault::AssertionAudEndpointUrl => {
            let token_url = t.url("/token");
            push_status(
                push_assertion(t.assertion_with(pkj, |c| c["aud"] = json!(token_url))).await,
            )
        }
        Fault::AssertionAudArray => {
            let issuer = t.server.issuer().to_owned();
            push_status(push_assertion(t.assertion_with(pkj, |c| c["aud"] = json!([issuer]))).await)
        }
        Fault::AssertionAudNotChecked => push_status(
            push_assertion(t.assertion_with(pkj, |c| c["aud"] = json!("https://evil.example")))
                .await,
        ),
        Fault::AssertionExpNotChecked => {
            let now = t.now();
            push_status(
                push_assertion(t.assertion_with(pkj, |c| c["exp"] = json!(now - 120))).await,
            )
        }
        Fault::AssertionIatFutureAccepted => {
            let now = t.now();
            let a = t.assertion_with(pkj, |c| {
                c["iat"] = json!(now + 90);
                c["nbf"] = json!(now + 90);
                c["exp"] = json!(now + 150);
            });
            push_status(push_assertion(a).await)
        }
        Fault::AssertionNoClockSkew => {
            let now = t.now();
            let a = t.assertion_with(pkj, |c| {
                c["iat"] = json!(now + 8);
                c["nbf"] = json!(now + 8);
            });
            !push_status(push_assertion(a).await)
        }
        Fault::AssertionJtiReplay => {
            let a = t.assertion_with(pkj, |_| {});
            let _ = push_assertion(a.clone()).await;
            push_status(push_assertion(a).await)
        }
        Fault::AssertionAlgNone => {
            let now = t.now();
            let claims = json!({"iss": pkj.client_id, "sub": pkj.client_id, "aud": t.server.issuer(),
                "jti": state::random_value(), "exp": now + 60});
            let a = format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                b64(claims.to_string().as_bytes())
            );
            push_status(push_assertion(a).await)
        }
        Fault::AssertionRs256 => {
            let rsa = t.client("client-pkj-2");
            let key = rsa.signing_key.as_ref().unwrap();
            let now = t.now();
            let claims = json!({"iss": rsa.client_id, "sub": rsa.client_id, "aud": t.server.issuer(),
                "jti": state::random_value(), "exp": now + 60});
            let input = format!(
                "{}.{}",
                b64(br#"{"alg":"RS256"}"#),
                b64(claims.to_string().as_bytes())
            );
            let sig = jsonwebtoken::crypto::sign(
                input.as_bytes(),
                key.encoding_key(),
                jsonwebtoken::Algorithm::RS256,
            )
            .unwrap();
            let mut p = form(&[
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &format!("{input}.{sig}")),
            ]);
            p.extend(t.request(rsa, &verifier));
            push_status(t.post(&http, "/par", &p, None).await)
        }
        Fault::AssertionAnyClientKey => {
            let other = t.client("client-pkj-2").signing_key.as_ref().unwrap();
            let now = t.now();
            let claims = json!({"iss": pkj.client_id, "sub": pkj.client_id, "aud": t.server.issuer(),
                "jti": state::random_value(), "exp": now + 60});
            let a = jws::sign(&json!({"alg": other.alg.as_str()}), &claims, other).unwrap();
            push_status(push_assertion(a).await)
        }
        Fault::MetadataAuthMethodNone => metadata().await["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none")),
        Fault::MetadataClientSecretBasic => {
            metadata().await["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("client_secret_basic"))
        }
        Fault::MetadataPasswordGrant => metadata().await["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("password")),
        Fault::MetadataIssuerMismatch => metadata().await["issuer"] != t.server.issuer(),
        Fault::JwksPrivateKey => t.get(&http, &t.url("/jwks")).await.body["keys"][0]
            .get("d")
            .is_some(),
        Fault::DpopHtuHtmNotChecked => {
            let proof = t.proof(&key, "GET", &t.url("/token"));
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopIatNotChecked => {
            let now = t.now();
            let proof = t.proof_with(&key, "POST", &t.url("/par"), |c| {
                c["iat"] = json!(now - 3600)
            });
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopNoClockSkew => {
            let now = t.now();
            let proof = t.proof_with(&key, "POST", &t.url("/par"), |c| c["iat"] = json!(now + 8));
            !push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopTypNotChecked => {
            let claims = json!({"jti": state::random_value(), "htm": "POST",
                "htu": t.url("/par"), "iat": t.now()});
            let header = json!({"typ": "JWT", "alg": key.alg.as_str(), "jwk": key.public_jwk});
            let proof = jws::sign(&header, &claims, &key).unwrap();
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopAlgNone => {
            let claims = json!({"jti": state::random_value(), "htm": "POST",
                "htu": t.url("/par"), "iat": t.now()});
            let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk});
            let proof = format!(
                "{}.{}.",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopJktNotEnforced => {
            let code = t
                .code(
                    pkj,
                    &verifier,
                    &[("dpop_jkt", &thumbprint(&key.public_jwk))],
                )
                .await;
            t.redeem(pkj, &http, &code, &verifier, Some(&dpop_key()))
                .await
                .status
                == StatusCode::OK
        }
        Fault::RsBearerDowngrade => {
            let tokens = t.tokens(pkj, Some(&key)).await;
            t.resource_bearer(&tokens.access, None).await.status == StatusCode::OK
        }
        Fault::RsIgnoresMtlsBinding => {
            let tokens = t.tokens(mtls, None).await;
            let other = &t.client("client-mtls-2").cert;
            t.resource_bearer(&tokens.access, Some(other)).await.status == StatusCode::OK
        }
        Fault::RsMtlsThumbprintHex => {
            let tokens = t.tokens(mtls, None).await;
            t.resource_bearer(&tokens.access, Some(&mtls.cert))
                .await
                .status
                == StatusCode::UNAUTHORIZED
        }
        Fault::RsTokenInQuery => {
            let tokens = t.tokens(mtls, None).await;
            let url = url::Url::parse_with_params(
                t.server.resource_url(),
                [("access_token", &tokens.access)],
            )
            .unwrap();
            t.get(&t.http(Some(&mtls.cert)), url.as_str()).await.status == StatusCode::OK
        }
        Fault::RsNoInteractionId => {
            let req = http.get(t.server.resource_url()).header(
                "x-fapi-interaction-id",
                "c770aef3-6784-41f7-8e0e-ff5f97bddb3a",
            );
            t.send(req).await.header("x-fapi-interaction-id")
                != Some("c770aef3-6784-41f7-8e0e-ff5f97bddb3a")
        }
        Fault::RsNoWwwAuthenticate => {
            let res = t.get(&http, t.server.resource_url()).await;
            res.status == StatusCode::UNAUTHORIZED && res.header("www-authenticate").is_none()
        }
        Fault::TokenResponseCacheable => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem(pkj, &http, &code, &verifier, Some(&key)).await;
            res.status == StatusCode::OK && res.header("cache-control") != Some("no-store")
        }
        Fault::RefreshTokenRotation => {
            let tokens = t.tokens(mtls, None).await;
            let refresh = |rt: String| {
                let mut body = t.auth(mtls);
                body.extend(form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                ]));
                async move { t.post(&t.http_for(mtls), "/token", &body, None).await }
            };
            let first = refresh(tokens.refresh.clone()).await;
            let rotated = first.body["refresh_token"]
                .as_str()
                .is_some_and(|rt| rt != tokens.refresh);
            rotated && refresh(tokens.refresh).await.status != StatusCode::OK
        }
        Fault::BearerTokens => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem(pkj, &http, &code, &verifier, None).await;
            res.status == StatusCode::OK
        }
        Fault::CorsAuthorizationEndpoint => {
            let req = http
                .get(t.url("/authorize"))
                .header("Origin", "https://evil.example");
            let preflight = http
                .request(reqwest::Method::OPTIONS, t.url("/authorize"))
                .header("Origin", "https://evil.example")
                .header("Access-Control-Request-Method", "GET");
            t.send(req)
                .await
                .header("access-control-allow-origin")
                .is_some()
                && t.send(preflight)
                    .await
                    .header("access-control-allow-origin")
                    .is_some()
        }
        Fault::NoHsts => t
            .get(&http, &t.url("/.well-known/openid-configuration"))
            .await
            .header("strict-transport-security")
            .is_none(),
        Fault::TlsExpiredCertificate => http.get(t.url("/jwks")).send().await.is_err(),
        Fault::MtlsUntrustedClientCert => {
            let forged = self_signed_client("client-mtls-1");
            let mut p = form(&[("client_id", &mtls.client_id)]);
            p.extend(t.request(mtls, &verifier));
            match t
                .http(Some(&forged))
                .post(t.url("/par"))
                .form(&p)
                .send()
                .await
            {
                Ok(res) => res.status() == StatusCode::CREATED,
                // Without the fault the handshake itself fails.
                Err(_) => false,
            }
        }
        Fault::PasswordGrantAccepted => {
            let mut body = t.auth(mtls);
            let pw = t.server.login_password().to_owned();
            body.extend(form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", &pw),
            ]));
            t.post(&t.http_for(mtls), "/token", &body, None)
                .await
                .status
                == StatusCode::OK
        }
        Fault::RsAcceptsUnknownTokens => {
            t.resource_bearer(&state::random_value(), Some(&mtls.cert))
                .await
                .status
                == StatusCode::OK
        }
        Fault::RsAcceptsRevokedTokens => {
            let tokens = t.tokens(mtls, None).await;
            let cert = Some(&mtls.cert);
            let used = t.resource_bearer(&tokens.access, cert).await.status == StatusCode::OK;
            let mut body = t.auth(mtls);
            body.extend(form(&[("token", &tokens.access)]));
            let revoked = t
                .post(&t.http_for(mtls), "/revoke", &body, None)
                .await
                .status
                == StatusCode::OK;
            used && revoked
                && t.resource_bearer(&tokens.access, cert).await.status == StatusCode::OK
        }
        Fault::ParDpopProofUnchecked => {
            // One character early in the signature: it changes signature bits, not padding.
            let mut proof = t.proof(&key, "POST", &t.url("/par"));
            let at = proof.rfind('.').unwrap() + 5;
            let to = if &proof[at..=at] == "A" { "B" } else { "A" };
            proof.replace_range(at..=at, to);
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopLongLivedTokens => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem(pkj, &http, &code, &verifier, Some(&key)).await;
            res.body["expires_in"].as_i64().is_some_and(|s| s > 3600)
        }
        Fault::ParUnauthenticatedRedirectUris => {
            let mut p = form(&[("client_id", &pkj.client_id)]);
            p.extend(with(
                t.request(pkj, &verifier),
                "redirect_uri",
                "https://evil.example/cb",
            ));
            push_status(t.post(&http, "/par", &p, None).await)
        }
        Fault::RsAuthSchemeCaseSensitive => {
            let tokens = t.tokens(mtls, None).await;
            let req = t
                .http(Some(&mtls.cert))
                .get(t.server.resource_url())
                .header("authorization", format!("bEARER {}", tokens.access));
            t.send(req).await.status != StatusCode::OK
        }
        Fault::DpopMaxAge5s => {
            let now = t.now();
            let proof = t.proof_with(&key, "POST", &t.url("/par"), |c| c["iat"] = json!(now - 10));
            !push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopExtraClaimsRejected => {
            let now = t.now();
            let proof = t.proof_with(&key, "POST", &t.url("/par"), |c| {
                c["nbf"] = json!(now);
                c["exp"] = json!(now + 300);
            });
            !push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::TokenUnauthenticated => {
            let code = t.code(pkj, &verifier, &[]).await;
            let bare = form(&[("client_id", &pkj.client_id)]);
            let res = t
                .redeem_authenticated_by(bare, pkj, &code, &verifier, &key)
                .await;
            res.status == StatusCode::OK
        }
        Fault::ClientIdParamIgnored => {
            let code = t.code(pkj, &verifier, &[]).await;
            let other_id = &t.client("client-pkj-2").client_id;
            let auth = with(t.auth(pkj), "client_id", other_id);
            let res = t
                .redeem_authenticated_by(auth, pkj, &code, &verifier, &key)
                .await;
            res.status == StatusCode::OK
        }
        Fault::StateTruncated => {
            let long = "s".repeat(300);
            let p = with(t.request(pkj, &verifier), "state", &long);
            let res = t.push_then_authorize(pkj, p, &[]).await;
            res.header("location")
                .is_some_and(|l| query_of(l).get("state") != Some(&long))
        }
        Fault::NonceTruncated => {
            let long = "n".repeat(300);
            let p = with(t.request(mtls, &verifier), "nonce", &long);
            let res = t.push_then_authorize(mtls, p, &[]).await;
            t.id_token_nonce(mtls, &res, &verifier).await != Some(long)
        }
        Fault::FrontChannelFillsGaps => {
            let p = without(t.request(pkj, &verifier), "state");
            let front = [("state", "front-channel")];
            let res = t.push_then_authorize(pkj, p, &front).await;
            res.header("location").is_some_and(|l| {
                query_of(l).get("state").map(String::as_str) == Some("front-channel")
            })
        }
        Fault::FrontChannelNonceOverrides => {
            let front = [("nonce", "front-channel")];
            let res = t
                .push_then_authorize(mtls, t.request(mtls, &verifier), &front)
                .await;
            t.id_token_nonce(mtls, &res, &verifier).await.as_deref() == Some("front-channel")
        }
        Fault::IntrospectionWithoutCnf => {
            let tokens = t.tokens(mtls, None).await;
            let mut body = t.auth(mtls);
            body.extend(form(&[("token", &tokens.access)]));
            let intro = t.post(&t.http_for(mtls), "/introspect", &body, None).await;
            intro.body["active"] == true && intro.body.get("cnf").is_none()
        }
        Fault::JwtAccessTokenWithoutCnf => {
            let tokens = t.tokens(mtls, None).await;
            let at = jws::parse(&tokens.access).unwrap();
            at.claims.get("cnf").is_none()
        }
        Fault::RsAcceptsExpiredTokens => {
            let tokens = t.tokens(mtls, None).await;
            t.server.advance_clock(61);
            t.resource_bearer(&tokens.access, Some(&mtls.cert))
                .await
                .status
                == StatusCode::OK
        }
        Fault::ParRequestUriIgnored => {
            let uri = "urn:ietf:params:oauth:request_uri:never-issued";
            push_status(
                t.push(
                    pkj,
                    with(t.request(pkj, &verifier), "request_uri", uri),
                    None,
                )
                .await,
            )
        }
        Fault::ParAnyMethod => {
            t.send(http.get(t.url("/par"))).await.status != StatusCode::METHOD_NOT_ALLOWED
        }
        Fault::DpopLenientParsing => {
            let par = t.url("/par");
            let claims = json!({"jti": state::random_value(), "htm": "POST", "htu": par,
                "iat": t.now()});
            let header = json!({"typ": "dpop+jwt", "alg": key.alg.as_str(), "jwk": key.public_jwk});
            let mut h = b64(header.to_string().as_bytes());
            h.insert(h.len() / 2, '!');
            let alg = key.alg.jsonwebtoken();
            let proof = crate::fapi::jose::sign_segments(
                &h,
                &b64(claims.to_string().as_bytes()),
                &key,
                alg,
            )
            .unwrap();
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopSignatureNotVerified => {
            let proof = t.proof(&key, "POST", &t.url("/par"));
            let (input, sig) = proof.rsplit_once('.').unwrap();
            let forged = format!("{input}.{}", crate::fapi::mutation::flip_char(sig));
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(forged)).await)
        }
        Fault::DpopPrivateJwkAccepted => {
            let k = crate::fapi::dpop::generate_key().unwrap();
            let mut jwk = k.signing.public_jwk.clone();
            jwk["d"] = json!(k.private_scalar());
            let claims = json!({"jti": state::random_value(), "htm": "POST",
                "htu": t.url("/par"), "iat": t.now()});
            let header = json!({"typ": "dpop+jwt", "alg": k.signing.alg.as_str(), "jwk": jwk});
            let proof = jws::sign(&header, &claims, &k.signing).unwrap();
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::DpopFirstHeaderUsed => {
            let mut body = t.auth(pkj);
            body.extend(t.request(pkj, &verifier));
            let req = t
                .http_for(pkj)
                .post(t.url("/par"))
                .form(&body)
                .header("DPoP", t.proof(&key, "POST", &t.url("/par")))
                .header("DPoP", t.proof(&key, "POST", &t.url("/par")));
            push_status(t.send(req).await)
        }
        Fault::PkceChallengeFormatNotChecked => {
            let short: String = s256(&verifier).chars().take(42).collect();
            push_status(
                t.push(
                    pkj,
                    with(t.request(pkj, &verifier), "code_challenge", &short),
                    None,
                )
                .await,
            )
        }
        Fault::ParDpopJktMismatchAccepted => {
            let other = thumbprint(&dpop_key().public_jwk);
            let proof = t.proof(&key, "POST", &t.url("/par"));
            let p = with(t.request(pkj, &verifier), "dpop_jkt", &other);
            push_status(t.push(pkj, p, Some(proof)).await)
        }
        Fault::ParDpopProofNotBinding => {
            let proof = t.proof(&key, "POST", &t.url("/par"));
            let pushed = t.push(pkj, t.request(pkj, &verifier), Some(proof)).await;
            let uri = pushed.body["request_uri"].as_str().unwrap();
            let res = t.authorize_uri(pkj, uri).await;
            let code = query_of(res.header("location").unwrap())["code"].clone();
            t.redeem(pkj, &http, &code, &verifier, Some(&dpop_key()))
                .await
                .status
                == StatusCode::OK
        }
        Fault::ParDpopProofRefused => {
            let proof = t.proof(&key, "POST", &t.url("/par"));
            !push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::IdTokenAlgNone => id_token(t).await.alg() == Some(jws::Alg::None),
        Fault::IdTokenBogusKid => {
            let jwks = t.get(&http, &t.url("/jwks")).await.body;
            id_token(t).await.header_str("kid") != jwks["keys"][0]["kid"].as_str()
        }
        Fault::IdTokenWrongAud => {
            id_token(t).await.claim_str("aud") != Some(mtls.client_id.as_str())
        }
        Fault::IdTokenExpired => id_token(t)
            .await
            .claim_time("exp")
            .is_some_and(|exp| exp < t.now()),
        Fault::IdTokenWrongNonce => id_token(t).await.claim_str("nonce") != Some("n-1"),
        Fault::IdTokenJkuHeader => id_token(t).await.header_str("jku").is_some(),
        Fault::UserinfoOtherSub => {
            let mtls = t.client("client-mtls-1");
            let tokens = t.tokens(mtls, None).await;
            let req = t
                .http(Some(&mtls.cert))
                .get(t.url("/userinfo"))
                .bearer_auth(&tokens.access);
            t.send(req).await.body["sub"] != "alice"
        }
        Fault::DpopNonceNotChecked => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t
                .redeem_nonce(pkj, &code, &verifier, &key, Some("made-up"))
                .await;
            res.status == StatusCode::OK
        }
        Fault::RsDpopNonceNotChecked => {
            let at = t.nonce_tokens(pkj, &key).await;
            t.resource_nonce(&at, &key, Some("made-up")).await.status == StatusCode::OK
        }
        Fault::DpopNonceChallengeMalformed => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem_nonce(pkj, &code, &verifier, &key, None).await;
            res.status == StatusCode::UNAUTHORIZED
        }
        Fault::RsDpopNonceChallengeMalformed => {
            let at = t.nonce_tokens(pkj, &key).await;
            let res = t.resource_nonce(&at, &key, None).await;
            res.status == StatusCode::BAD_REQUEST && res.header("www-authenticate").is_none()
        }
        Fault::DpopNonceTwoHeaders => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem_nonce(pkj, &code, &verifier, &key, None).await;
            res.headers.get_all("dpop-nonce").iter().count() == 2
        }
        Fault::DpopNonceQuoted => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem_nonce(pkj, &code, &verifier, &key, None).await;
            res.header("dpop-nonce").is_some_and(|n| n.starts_with('"'))
        }
        Fault::DpopNonceOptional => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t.redeem_nonce(pkj, &code, &verifier, &key, None).await;
            res.status == StatusCode::OK && res.header("dpop-nonce").is_some()
        }
        Fault::ParHttpRedirectUri => push_status(
            t.push(
                pkj,
                with(
                    t.request(pkj, &verifier),
                    "redirect_uri",
                    "http://client.example/cb",
                ),
                None,
            )
            .await,
        ),
        Fault::DpopLongJtiServerError => {
            let code = t.code(pkj, &verifier, &[]).await;
            let res = t
                .redeem_with(pkj, &code, &verifier, &key, |cl| {
                    cl["jti"] = json!("j".repeat(10_000))
                })
                .await;
            res.status == StatusCode::INTERNAL_SERVER_ERROR
        }
        Fault::FrontChannelOverridesPar => {
            let front = [("state", "front-channel")];
            let res = t
                .push_then_authorize(pkj, t.request(pkj, &verifier), &front)
                .await;
            res.header("location").is_some_and(|l| {
                query_of(l).get("state").map(String::as_str) == Some("front-channel")
            })
        }
        Fault::AssertionHs256KeyConfusion => {
            let key = pkj.signing_key.as_ref().unwrap();
            let secret = public_key_pem(&key.spki_der);
            let claims = t.assertion_claims(pkj);
            let a = jose::sign_hs256(json!({"kid": key.kid}), &claims, secret.as_bytes());
            push_status(push_assertion(a).await)
        }
        Fault::AssertionEmbeddedJwkTrusted => {
            let attacker = dpop_key();
            let header = json!({"alg": attacker.alg.as_str(), "jwk": attacker.public_jwk});
            let a = jws::sign(&header, &t.assertion_claims(pkj), &attacker).unwrap();
            push_status(push_assertion(a).await)
        }
        Fault::DpopHs256KeyConfusion => {
            let claims = json!({"jti": state::random_value(), "htm": "POST",
                "htu": t.url("/par"), "iat": t.now()});
            let header = json!({"typ": "dpop+jwt", "jwk": key.public_jwk});
            let proof = jose::sign_hs256(header, &claims, key.public_jwk.to_string().as_bytes());
            push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await)
        }
        Fault::JwsCritIgnored => {
            // One JWS library serves both: the fault shows in assertions and proofs alike.
            let crit = |alg: &str| json!({"alg": alg, "crit": [jose::UNKNOWN_CRIT], jose::UNKNOWN_CRIT: true});
            let own = pkj.signing_key.as_ref().unwrap();
            let a = jws::sign(&crit(own.alg.as_str()), &t.assertion_claims(pkj), own).unwrap();
            let assertion_accepted = push_status(push_assertion(a).await);
            let mut header = crit(key.alg.as_str());
            header["typ"] = json!("dpop+jwt");
            header["jwk"] = key.public_jwk.clone();
            let claims = json!({"jti": state::random_value(), "htm": "POST",
                "htu": t.url("/par"), "iat": t.now()});
            let proof = jws::sign(&header, &claims, &key).unwrap();
            let proof_accepted =
                push_status(t.push(pkj, t.request(pkj, &verifier), Some(proof)).await);
            assertion_accepted && proof_accepted
        }
        Fault::DpopHtuExactMatch => {
            let code = t.code(pkj, &verifier, &[]).await;
            let htu = t.url("/token").replacen("https://", "HTTPS://", 1);
            let res = t
                .redeem_with(pkj, &code, &verifier, &key, |cl| cl["htu"] = json!(htu))
                .await;
            res.status != StatusCode::OK
        }
        Fault::RequestUriCounter => {
            // Two pushes in a row: the second request_uri is the first's number plus one.
            let mut seq = Vec::new();
            for _ in 0..2 {
                let pushed = t.push(pkj, t.request(pkj, &verifier), None).await;
                let uri = pushed.body["request_uri"].as_str().unwrap_or_default();
                let tail = uri.rsplit(':').next().unwrap_or_default();
                seq.push(
                    tail.strip_prefix("req-")
                        .and_then(|n| n.parse::<u64>().ok()),
                );
            }
            matches!(seq[..], [Some(a), Some(b)] if b == a + 1)
        }
        Fault::ShortCodes => t.code(pkj, &verifier, &[]).await.len() < 22,
    }
}

/// The ID token of a code flow by the first mTLS client (its request sends nonce `n-1`).
async fn id_token(t: &T) -> jws::Jws {
    let tokens = t.tokens(t.client("client-mtls-1"), None).await;
    jws::parse(tokens.body["id_token"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_misbehaves_only_when_switched_on() {
    // Key generation dominates a start, so the conformant side is one shared server, except for
    // probes that move the clock: those would expire other probes' assertions mid-flight. Nonce
    // faults switch on nonce mode, so their conformant side is a server in nonce mode.
    let shared = std::sync::Arc::new(T::start(&[]).await);
    let nonce_mode = std::sync::Arc::new(
        T::with(ReferenceOptions {
            dpop_nonce: true,
            ..ReferenceOptions::default()
        })
        .await,
    );
    let mut runs = tokio::task::JoinSet::new();
    for &fault in Fault::ALL {
        let shared = if fault.needs_dpop_nonce() {
            nonce_mode.clone()
        } else {
            shared.clone()
        };
        runs.spawn(async move {
            let faulty = T::start(&[fault]).await;
            let on = misbehaves(&faulty, fault).await;
            let off = if matches!(
                fault,
                Fault::CodeLifetime120s
                    | Fault::RequestUriNeverExpires
                    | Fault::RsAcceptsExpiredTokens
            ) {
                misbehaves(&T::start(&[]).await, fault).await
            } else {
                misbehaves(&shared, fault).await
            };
            (fault, on, off)
        });
    }
    let mut wrong = Vec::new();
    while let Some(res) = runs.join_next().await {
        let (fault, on, off) = res.unwrap();
        if !on || off {
            wrong.push(format!("{fault}: with fault {on}, without {off}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "faults not shown as expected:\n{}",
        wrong.join("\n")
    );
}
