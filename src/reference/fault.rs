//! Fault switches: each one makes the reference server break exactly one FAPI 2.0 rule, so that a
//! harness check can be shown to catch that non-conformance (and only with the switch on).
//!
//! This file names and describes the faults; the code that honours a fault sits where the
//! conformant behaviour lives, behind `Faults::on`.

use std::fmt;
use std::str::FromStr;

/// One deliberate, realistic non-conformance of the reference AS or RS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Front-channel authorization requests without PAR are served.
    ParNotRequired,
    /// PAR answers 200 OK instead of 201 Created.
    ParStatus200,
    /// A PAR `request_uri` can be used more than once.
    ParRequestUriReusable,
    /// PAR answers `expires_in` 600.
    ParLongExpiry,
    /// PAR accepts a request that carries a `client_id` but no client authentication.
    ParUnauthenticated,
    /// PAR accepts a request without `redirect_uri`.
    ParRedirectUriOptional,
    /// A pushed request_uri stays usable long after its announced `expires_in`.
    RequestUriNeverExpires,
    /// The authorization endpoint serves a request_uri to a client that did not push it.
    RequestUriNotBoundToClient,
    /// PAR refuses requests without `state`.
    StateRequired,
    /// Any `response_type` is accepted and served as the code flow.
    ResponseTypeNotChecked,
    /// Nonces longer than 32 characters are refused.
    NonceMax32,
    /// PAR accepts a request without `code_challenge`.
    PkceNotRequired,
    /// PAR accepts `code_challenge_method=plain` (or no method, meaning plain).
    PkcePlainAccepted,
    /// The token endpoint does not check `code_verifier`.
    PkceVerifierNotChecked,
    /// The authorization response has no `iss` parameter.
    AuthorizationResponseNoIss,
    /// The authorization endpoint redirects with 302 instead of 303.
    AuthorizationRedirect302,
    /// Authorization errors are redirected to an unregistered `redirect_uri`.
    OpenRedirect,
    /// Authorization codes live 120 seconds.
    CodeLifetime120s,
    /// An authorization code can be redeemed more than once.
    CodeReusable,
    /// The token endpoint redeems a code for any authenticated client.
    CodeNotBoundToClient,
    /// Client assertions with the token or PAR endpoint URL as `aud` are accepted.
    AssertionAudEndpointUrl,
    /// Client assertions with `aud` as an array holding the issuer are accepted.
    AssertionAudArray,
    /// The `aud` of client assertions is not checked at all.
    AssertionAudNotChecked,
    /// Expired client assertions are accepted.
    AssertionExpNotChecked,
    /// Client assertions with `iat`/`nbf` far in the future are accepted.
    AssertionIatFutureAccepted,
    /// Client assertions with `iat`/`nbf` even a second in the future are refused.
    AssertionNoClockSkew,
    /// A client assertion `jti` can be replayed.
    AssertionJtiReplay,
    /// Unsigned (`alg: none`) client assertions are accepted.
    AssertionAlgNone,
    /// RS256-signed client assertions are accepted.
    AssertionRs256,
    /// Client assertion signatures verify with any registered client's key.
    AssertionAnyClientKey,
    /// Metadata advertises the `none` client authentication method.
    MetadataAuthMethodNone,
    /// Metadata advertises `client_secret_basic`.
    MetadataClientSecretBasic,
    /// Metadata advertises the `password` grant.
    MetadataPasswordGrant,
    /// Metadata `issuer` differs from the issuer (a trailing slash).
    MetadataIssuerMismatch,
    /// The JWKS carries the private part of the signing key.
    JwksPrivateKey,
    /// DPoP proofs are not checked for `htm` and `htu`.
    DpopHtuHtmNotChecked,
    /// DPoP proof `iat` is not checked.
    DpopIatNotChecked,
    /// DPoP proofs with `iat` even a second in the future are refused.
    DpopNoClockSkew,
    /// The DPoP proof `typ` is not checked.
    DpopTypNotChecked,
    /// Unsigned (`alg: none`) DPoP proofs are accepted.
    DpopAlgNone,
    /// A code bound with `dpop_jkt` can be redeemed with another DPoP key.
    DpopJktNotEnforced,
    /// The RS accepts a DPoP-bound token sent as `Bearer` without a proof.
    RsBearerDowngrade,
    /// The RS does not compare the client certificate with an mTLS-bound token.
    RsIgnoresMtlsBinding,
    /// The RS compares a hex certificate hash with the token's base64url `x5t#S256`.
    RsMtlsThumbprintHex,
    /// The RS accepts the access token in the query string.
    RsTokenInQuery,
    /// The RS does not echo `x-fapi-interaction-id`.
    RsNoInteractionId,
    /// The RS answers 401 without `WWW-Authenticate`.
    RsNoWwwAuthenticate,
    /// Token responses lack `Cache-Control: no-store`.
    TokenResponseCacheable,
    /// Each refresh returns a new refresh token and invalidates the old one.
    RefreshTokenRotation,
    /// Token requests without DPoP proof or client certificate get unbound bearer tokens.
    BearerTokens,
    /// The authorization endpoint answers CORS requests.
    CorsAuthorizationEndpoint,
    /// No `Strict-Transport-Security` header.
    NoHsts,
    /// The AS and RS serve an expired TLS certificate.
    TlsExpiredCertificate,
    /// Client certificates from any issuer are accepted for `tls_client_auth`.
    MtlsUntrustedClientCert,
    /// The token endpoint grants tokens for `grant_type=password`.
    PasswordGrantAccepted,
    /// The RS serves any access token it is shown, without looking it up.
    RsAcceptsUnknownTokens,
    /// The RS caches the tokens it validated until they expire, so revocation never reaches it.
    RsAcceptsRevokedTokens,
    /// The RS never checks an access token's expiry.
    RsAcceptsExpiredTokens,
    /// PAR binds the code to the key in a DPoP proof's `jwk` header without checking the proof.
    ParDpopProofUnchecked,
    /// Without DPoP nonces, DPoP-bound access tokens live a day.
    DpopLongLivedTokens,
    /// PAR accepts a bare `client_id` and takes any https redirect URI from such a push.
    ParUnauthenticatedRedirectUris,
    /// The RS matches the authorization scheme names `DPoP` and `Bearer` case-sensitively.
    RsAuthSchemeCaseSensitive,
    /// DPoP proofs older than 5 seconds are rejected.
    DpopMaxAge5s,
    /// DPoP proofs with claims beyond the ones RFC 9449 defines are rejected.
    DpopExtraClaimsRejected,
    /// The token endpoint accepts a bare `client_id`: PKCE is taken as the only proof.
    TokenUnauthenticated,
    /// The client assertion decides who the client is; a different `client_id` parameter is ignored.
    ClientIdParamIgnored,
    /// `state` is kept in a 255-character column: a longer one comes back cut short.
    StateTruncated,
    /// `nonce` is kept in a 255-character column: the ID token carries a longer one cut short.
    NonceTruncated,
    /// A pushed request without `state` takes the one sent next to `request_uri`.
    FrontChannelFillsGaps,
    /// A `nonce` sent next to `request_uri` replaces the pushed one.
    FrontChannelNonceOverrides,
    /// Introspection responses leave out the token's `cnf` binding.
    IntrospectionWithoutCnf,
    /// JWT access tokens leave out the `cnf` binding claim.
    JwtAccessTokenWithoutCnf,
    /// PAR ignores a `request_uri` parameter in the pushed request.
    ParRequestUriIgnored,
    /// The PAR endpoint handles every HTTP method like POST.
    ParAnyMethod,
    /// DPoP proofs are decoded leniently: stray characters and trailing bytes are skipped.
    DpopLenientParsing,
    /// DPoP proof signatures are not verified.
    DpopSignatureNotVerified,
    /// DPoP proofs whose `jwk` holds a private key are accepted.
    DpopPrivateJwkAccepted,
    /// With several `DPoP` headers, the first one is used.
    DpopFirstHeaderUsed,
    /// Any string is accepted as an S256 `code_challenge`.
    PkceChallengeFormatNotChecked,
    /// PAR ignores the DPoP proof when `dpop_jkt` is present, even if they disagree.
    ParDpopJktMismatchAccepted,
    /// A DPoP proof at PAR does not bind the code to its key.
    ParDpopProofNotBinding,
    /// PAR refuses requests that carry a DPoP proof.
    ParDpopProofRefused,
    /// ID tokens are unsigned (`alg: none`).
    IdTokenAlgNone,
    /// ID tokens name a `kid` that the JWK Set does not hold.
    IdTokenBogusKid,
    /// ID tokens carry the issuer as `aud` instead of the client_id.
    IdTokenWrongAud,
    /// ID tokens are issued already expired.
    IdTokenExpired,
    /// ID tokens carry another `nonce` than the authorization request sent.
    IdTokenWrongNonce,
    /// ID token headers point at the JWK Set with `jku`.
    IdTokenJkuHeader,
    /// Userinfo answers with another `sub` than the ID token's.
    UserinfoOtherSub,
    /// Nonce mode: the AS accepts any `nonce` value in a proof, not only one it issued.
    DpopNonceNotChecked,
    /// Nonce mode: the RS accepts any `nonce` value in a proof, not only one it issued.
    RsDpopNonceNotChecked,
    /// Nonce mode: the AS's `use_dpop_nonce` challenge is HTTP 401, not 400.
    DpopNonceChallengeMalformed,
    /// Nonce mode: the RS's `use_dpop_nonce` challenge is an HTTP 400 JSON error without a
    /// `WWW-Authenticate: DPoP` challenge.
    RsDpopNonceChallengeMalformed,
    /// Nonce mode: challenges carry two `DPoP-Nonce` headers.
    DpopNonceTwoHeaders,
    /// Nonce mode: nonce values are sent as quoted strings.
    DpopNonceQuoted,
    /// Nonce mode: nonces are handed out on successful responses but never required.
    DpopNonceOptional,
    /// PAR accepts per-request redirect URIs, plain http ones too.
    ParHttpRedirectUri,
    /// A DPoP proof with a very long `jti` makes the server fail with HTTP 500.
    DpopLongJtiServerError,
    /// DPoP `htu` is compared with the endpoint URL as a string, without normalisation.
    DpopHtuExactMatch,
    /// `redirect_uri` and `state` in the query override the pushed ones.
    FrontChannelOverridesPar,
    /// request_uris end in a zero-padded sequence number instead of a random value.
    RequestUriCounter,
    /// Authorization codes carry 64 random bits instead of 256.
    ShortCodes,
    /// HS256 client assertions are accepted, their MAC keyed with the registered public key's PEM.
    AssertionHs256KeyConfusion,
    /// A client assertion is verified with the key in its `jwk` header, if it has one.
    AssertionEmbeddedJwkTrusted,
    /// HS256 DPoP proofs are accepted, their MAC keyed with the JSON of the `jwk` header.
    DpopHs256KeyConfusion,
    /// Client assertions and DPoP proofs are accepted whatever their `crit` header names.
    JwsCritIgnored,
}

/// Why a fault name was refused; lists the known names so the user can pick one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{name}`; known faults: {}", Fault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownFault {
    /// The name that matched no fault.
    pub name: String,
}

impl Fault {
    /// Every fault, in a stable order (the order of the reference documentation).
    pub const ALL: &'static [Fault] = &[
        Fault::ParNotRequired,
        Fault::ParStatus200,
        Fault::ParRequestUriReusable,
        Fault::ParLongExpiry,
        Fault::ParUnauthenticated,
        Fault::ParRedirectUriOptional,
        Fault::RequestUriNeverExpires,
        Fault::RequestUriNotBoundToClient,
        Fault::StateRequired,
        Fault::ResponseTypeNotChecked,
        Fault::NonceMax32,
        Fault::PkceNotRequired,
        Fault::PkcePlainAccepted,
        Fault::PkceVerifierNotChecked,
        Fault::AuthorizationResponseNoIss,
        Fault::AuthorizationRedirect302,
        Fault::OpenRedirect,
        Fault::CodeLifetime120s,
        Fault::CodeReusable,
        Fault::CodeNotBoundToClient,
        Fault::AssertionAudEndpointUrl,
        Fault::AssertionAudArray,
        Fault::AssertionAudNotChecked,
        Fault::AssertionExpNotChecked,
        Fault::AssertionIatFutureAccepted,
        Fault::AssertionNoClockSkew,
        Fault::AssertionJtiReplay,
        Fault::AssertionAlgNone,
        Fault::AssertionRs256,
        Fault::AssertionAnyClientKey,
        Fault::MetadataAuthMethodNone,
        Fault::MetadataClientSecretBasic,
        Fault::MetadataPasswordGrant,
        Fault::MetadataIssuerMismatch,
        Fault::JwksPrivateKey,
        Fault::DpopHtuHtmNotChecked,
        Fault::DpopIatNotChecked,
        Fault::DpopNoClockSkew,
        Fault::DpopTypNotChecked,
        Fault::DpopAlgNone,
        Fault::DpopJktNotEnforced,
        Fault::RsBearerDowngrade,
        Fault::RsIgnoresMtlsBinding,
        Fault::RsMtlsThumbprintHex,
        Fault::RsTokenInQuery,
        Fault::RsNoInteractionId,
        Fault::RsNoWwwAuthenticate,
        Fault::TokenResponseCacheable,
        Fault::RefreshTokenRotation,
        Fault::BearerTokens,
        Fault::CorsAuthorizationEndpoint,
        Fault::NoHsts,
        Fault::TlsExpiredCertificate,
        Fault::MtlsUntrustedClientCert,
        Fault::PasswordGrantAccepted,
        Fault::RsAcceptsUnknownTokens,
        Fault::RsAcceptsRevokedTokens,
        Fault::RsAcceptsExpiredTokens,
        Fault::ParDpopProofUnchecked,
        Fault::DpopLongLivedTokens,
        Fault::ParUnauthenticatedRedirectUris,
        Fault::RsAuthSchemeCaseSensitive,
        Fault::DpopMaxAge5s,
        Fault::DpopExtraClaimsRejected,
        Fault::TokenUnauthenticated,
        Fault::ClientIdParamIgnored,
        Fault::StateTruncated,
        Fault::NonceTruncated,
        Fault::FrontChannelFillsGaps,
        Fault::FrontChannelNonceOverrides,
        Fault::IntrospectionWithoutCnf,
        Fault::JwtAccessTokenWithoutCnf,
        Fault::ParRequestUriIgnored,
        Fault::ParAnyMethod,
        Fault::DpopLenientParsing,
        Fault::DpopSignatureNotVerified,
        Fault::DpopPrivateJwkAccepted,
        Fault::DpopFirstHeaderUsed,
        Fault::PkceChallengeFormatNotChecked,
        Fault::ParDpopJktMismatchAccepted,
        Fault::ParDpopProofNotBinding,
        Fault::ParDpopProofRefused,
        Fault::IdTokenAlgNone,
        Fault::IdTokenBogusKid,
        Fault::IdTokenWrongAud,
        Fault::IdTokenExpired,
        Fault::IdTokenWrongNonce,
        Fault::IdTokenJkuHeader,
        Fault::UserinfoOtherSub,
        Fault::DpopNonceNotChecked,
        Fault::RsDpopNonceNotChecked,
        Fault::DpopNonceChallengeMalformed,
        Fault::RsDpopNonceChallengeMalformed,
        Fault::DpopNonceTwoHeaders,
        Fault::DpopNonceQuoted,
        Fault::DpopNonceOptional,
        Fault::ParHttpRedirectUri,
        Fault::DpopLongJtiServerError,
        Fault::DpopHtuExactMatch,
        Fault::FrontChannelOverridesPar,
        Fault::RequestUriCounter,
        Fault::ShortCodes,
        Fault::AssertionHs256KeyConfusion,
        Fault::AssertionEmbeddedJwkTrusted,
        Fault::DpopHs256KeyConfusion,
        Fault::JwsCritIgnored,
    ];

    /// The kebab-case name used on the command line and in plans.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    /// One line saying what the server does wrong with this fault on.
    pub fn description(self) -> &'static str {
        self.info().1
    }

    /// The fault with this name, if any.
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == name)
    }

    // One match for name and description keeps the two from drifting apart.
    fn info(self) -> (&'static str, &'static str) {
        match self {
            Fault::ParNotRequired => (
                "par-not-required",
                "authorization requests sent without PAR are served (FAPI2-SP-5.3.2.2-3)",
            ),
            Fault::ParStatus200 => (
                "par-status-200",
                "PAR answers 200 OK instead of 201 Created (RFC9126-2.2-1)",
            ),
            Fault::ParRequestUriReusable => (
                "par-request-uri-reusable",
                "a PAR request_uri stays usable after an authorization (RFC9126-4-1)",
            ),
            Fault::ParLongExpiry => (
                "par-long-expiry",
                "PAR answers expires_in 600, not less than 600 s (FAPI2-SP-5.3.2.2-12)",
            ),
            Fault::ParUnauthenticated => (
                "par-unauthenticated",
                "PAR accepts a bare client_id without client authentication (FAPI2-SP-5.3.2.2-4)",
            ),
            Fault::ParRedirectUriOptional => (
                "par-redirect-uri-optional",
                "PAR accepts a request without redirect_uri (FAPI2-SP-5.3.2.2-6)",
            ),
            Fault::RequestUriNeverExpires => (
                "request-uri-never-expires",
                "a request_uri stays usable ten times longer than its expires_in (RFC9126-4-2)",
            ),
            Fault::RequestUriNotBoundToClient => (
                "request-uri-not-bound-to-client",
                "the authorization endpoint serves another client's request_uri (RFC9126-2.2-3)",
            ),
            Fault::StateRequired => (
                "state-required",
                "PAR refuses requests without state, which PKCE clients may omit (RFC6749-4.1.1)",
            ),
            Fault::ResponseTypeNotChecked => (
                "response-type-not-checked",
                "response types other than code are accepted at PAR and served (FAPI2-SP-5.3.2.2-1)",
            ),
            Fault::NonceMax32 => (
                "nonce-max-32",
                "PAR refuses nonces longer than 32 characters (FAPI2-SP-5.3.2.2-14)",
            ),
            Fault::PkceNotRequired => (
                "pkce-not-required",
                "PAR accepts a request without code_challenge (FAPI2-SP-5.3.2.2-5)",
            ),
            Fault::PkcePlainAccepted => (
                "pkce-plain-accepted",
                "PAR accepts code_challenge_method plain or none (FAPI2-SP-5.3.2.2-5)",
            ),
            Fault::PkceVerifierNotChecked => (
                "pkce-verifier-not-checked",
                "the token endpoint ignores code_verifier (RFC7636-4.6-1)",
            ),
            Fault::AuthorizationResponseNoIss => (
                "authorization-response-no-iss",
                "authorization responses carry no iss parameter (FAPI2-SP-5.3.2.2-7)",
            ),
            Fault::AuthorizationRedirect302 => (
                "authorization-redirect-302",
                "the authorization endpoint redirects with 302, not 303 (FAPI2-SP-5.3.2.2-11)",
            ),
            Fault::OpenRedirect => (
                "open-redirect",
                "authorization errors redirect to an unregistered redirect_uri (FAPI2-SP-5.3.2.1-7)",
            ),
            Fault::CodeLifetime120s => (
                "code-lifetime-120s",
                "authorization codes live 120 s instead of at most 60 s (FAPI2-SP-5.3.2.1-11)",
            ),
            Fault::CodeReusable => (
                "code-reusable",
                "an authorization code can be redeemed twice (FAPI2-SP-5.3.2.2-9)",
            ),
            Fault::CodeNotBoundToClient => (
                "code-not-bound-to-client",
                "a code is redeemed by whichever client authenticates, not only the one it was issued to (RFC6749-4.1.3-1)",
            ),
            Fault::AssertionAudEndpointUrl => (
                "assertion-aud-endpoint-url",
                "client assertions with the token or PAR endpoint URL as aud are accepted (FAPI2-SP-5.3.2.1-8)",
            ),
            Fault::AssertionAudArray => (
                "assertion-aud-array",
                "client assertions with aud as an array are accepted (FAPI2-SP-5.3.2.1-8)",
            ),
            Fault::AssertionAudNotChecked => (
                "assertion-aud-not-checked",
                "the aud of client assertions is not checked at all (FAPI2-SP-5.3.2.1-8)",
            ),
            Fault::AssertionExpNotChecked => (
                "assertion-exp-not-checked",
                "expired client assertions are accepted (RFC7523-3)",
            ),
            Fault::AssertionIatFutureAccepted => (
                "assertion-iat-future-accepted",
                "client assertions with iat/nbf over 60 s in the future are accepted (FAPI2-SP-5.3.2.1-13.b)",
            ),
            Fault::AssertionNoClockSkew => (
                "assertion-no-clock-skew",
                "client assertions with iat/nbf in the future are refused, with no clock-skew tolerance (FAPI2-SP-5.3.2.1-13.a)",
            ),
            Fault::AssertionJtiReplay => (
                "assertion-jti-replay",
                "a client assertion can be replayed (OIDC-9 jti)",
            ),
            Fault::AssertionAlgNone => (
                "assertion-alg-none",
                "unsigned alg none client assertions are accepted (FAPI2-SP-5.4.1-1.3)",
            ),
            Fault::AssertionRs256 => (
                "assertion-rs256",
                "RS256 client assertions are accepted (FAPI2-SP-5.4.1-1.2)",
            ),
            Fault::AssertionAnyClientKey => (
                "assertion-any-client-key",
                "a client assertion signed with any registered client's key is accepted (RFC7523-3-9)",
            ),
            Fault::MetadataAuthMethodNone => (
                "metadata-auth-method-none",
                "metadata lists the none client authentication method (FAPI2-SP-5.3.2.1-3)",
            ),
            Fault::MetadataClientSecretBasic => (
                "metadata-client-secret-basic",
                "metadata lists client_secret_basic (FAPI2-SP-5.3.2.1-6)",
            ),
            Fault::MetadataPasswordGrant => (
                "metadata-password-grant",
                "metadata lists the password grant (FAPI2-SP-5.3.2.1-2)",
            ),
            Fault::MetadataIssuerMismatch => (
                "metadata-issuer-mismatch",
                "the metadata issuer has a trailing slash the issuer lacks (FAPI2-SP-5.3.2.1-1)",
            ),
            Fault::JwksPrivateKey => (
                "jwks-private-key",
                "the JWKS publishes the private part of the signing key (FAPI2-SP-5.4.2-1)",
            ),
            Fault::DpopHtuHtmNotChecked => (
                "dpop-htu-htm-not-checked",
                "DPoP proofs for another method or URL are accepted (RFC9449-4.3-8, -9)",
            ),
            Fault::DpopIatNotChecked => (
                "dpop-iat-not-checked",
                "DPoP proofs with any iat are accepted (RFC9449-4.3-11)",
            ),
            Fault::DpopNoClockSkew => (
                "dpop-no-clock-skew",
                "DPoP proofs with iat in the future are refused, with no clock-skew tolerance (FAPI2-SP-5.3.2.1-13.a)",
            ),
            Fault::DpopTypNotChecked => (
                "dpop-typ-not-checked",
                "DPoP proofs without typ dpop+jwt are accepted (RFC9449-4.3-4)",
            ),
            Fault::DpopAlgNone => (
                "dpop-alg-none",
                "unsigned alg none DPoP proofs are accepted (RFC9449-4.3-5)",
            ),
            Fault::DpopJktNotEnforced => (
                "dpop-jkt-not-enforced",
                "a code bound with dpop_jkt is redeemed with another DPoP key (RFC9449-10-1)",
            ),
            Fault::RsBearerDowngrade => (
                "rs-bearer-downgrade",
                "the RS accepts a DPoP-bound token as Bearer without proof (RFC9449-7.2-1)",
            ),
            Fault::RsIgnoresMtlsBinding => (
                "rs-ignores-mtls-binding",
                "the RS accepts an mTLS-bound token over another certificate (RFC8705-3-2)",
            ),
            Fault::RsMtlsThumbprintHex => (
                "rs-mtls-thumbprint-hex",
                "the RS compares the certificate's hex SHA-256 with the base64url x5t#S256 and refuses valid mTLS-bound tokens (FAPI2-SP-5.3.4-5)",
            ),
            Fault::RsTokenInQuery => (
                "rs-token-in-query",
                "the RS accepts the access token in the query string (FAPI2-SP-5.3.4-2)",
            ),
            Fault::RsNoInteractionId => (
                "rs-no-interaction-id",
                "the RS does not echo x-fapi-interaction-id",
            ),
            Fault::RsNoWwwAuthenticate => (
                "rs-no-www-authenticate",
                "the RS answers 401 without WWW-Authenticate (RFC6750-3)",
            ),
            Fault::TokenResponseCacheable => (
                "token-response-cacheable",
                "token responses lack Cache-Control: no-store (RFC6749-5.1-1)",
            ),
            Fault::RefreshTokenRotation => (
                "refresh-token-rotation",
                "each refresh rotates the refresh token and kills the old one (FAPI2-SP-5.3.2.1-9)",
            ),
            Fault::BearerTokens => (
                "bearer-tokens",
                "token requests without DPoP proof or client certificate get unbound tokens (FAPI2-SP-5.3.2.1-4)",
            ),
            Fault::CorsAuthorizationEndpoint => (
                "cors-authorization-endpoint",
                "the authorization endpoint answers CORS requests (FAPI2-SP-5.2.3-3)",
            ),
            Fault::NoHsts => (
                "no-hsts",
                "responses carry no Strict-Transport-Security header (FAPI2-SP-5.2.3-1)",
            ),
            Fault::TlsExpiredCertificate => (
                "tls-expired-certificate",
                "the AS and RS serve an expired TLS certificate (FAPI2-SP-5.2.1-3)",
            ),
            Fault::MtlsUntrustedClientCert => (
                "mtls-untrusted-client-cert",
                "tls_client_auth accepts certificates from any issuer (RFC8705-2-2)",
            ),
            Fault::PasswordGrantAccepted => (
                "password-grant-accepted",
                "the token endpoint grants tokens for grant_type=password (FAPI2-SP-5.3.2.1-2)",
            ),
            Fault::RsAcceptsUnknownTokens => (
                "rs-accepts-unknown-tokens",
                "the RS serves any access token, without checking that the AS issued it (FAPI2-SP-5.3.4-3)",
            ),
            Fault::RsAcceptsRevokedTokens => (
                "rs-accepts-revoked-tokens",
                "the RS caches access tokens it validated until they expire, so revoked ones keep working (FAPI2-SP-5.3.4-3)",
            ),
            Fault::RsAcceptsExpiredTokens => (
                "rs-accepts-expired-tokens",
                "the RS serves access tokens past their expiry (FAPI2-SP-5.3.4-3)",
            ),
            Fault::ParDpopProofUnchecked => (
                "par-dpop-proof-unchecked",
                "PAR binds the code to the jwk of a DPoP proof without checking the proof (RFC9449-10.1-1)",
            ),
            Fault::DpopLongLivedTokens => (
                "dpop-long-lived-tokens",
                "without DPoP nonces, DPoP-bound access tokens live a day (RFC9449-11.2-1)",
            ),
            Fault::ParUnauthenticatedRedirectUris => (
                "par-unauthenticated-redirect-uris",
                "PAR accepts a bare client_id and any https redirect_uri from it (RFC9126-7.2-1)",
            ),
            Fault::RsAuthSchemeCaseSensitive => (
                "rs-auth-scheme-case-sensitive",
                "the RS accepts the authorization schemes DPoP and Bearer only in that spelling (RFC9110-11.1-1)",
            ),
            Fault::DpopMaxAge5s => (
                "dpop-max-age-5s",
                "DPoP proofs older than 5 seconds are rejected (RFC9449-4.3-11)",
            ),
            Fault::DpopExtraClaimsRejected => (
                "dpop-extra-claims-rejected",
                "DPoP proofs with claims RFC 9449 does not define (nbf, exp) are rejected (RFC9449-4.3-11)",
            ),
            Fault::TokenUnauthenticated => (
                "token-unauthenticated",
                "the token endpoint accepts a bare client_id, with PKCE as the only proof (FAPI2-SP-5.3.2.1-3)",
            ),
            Fault::ClientIdParamIgnored => (
                "client-id-param-ignored",
                "a client_id parameter that differs from the client assertion's iss is ignored (OIDC-9-1)",
            ),
            Fault::StateTruncated => (
                "state-truncated",
                "a state longer than 255 characters comes back cut short (RFC6749-4.1.2-2)",
            ),
            Fault::NonceTruncated => (
                "nonce-truncated",
                "a nonce longer than 255 characters is cut short in the ID token (OIDC-2-7)",
            ),
            Fault::FrontChannelFillsGaps => (
                "front-channel-fills-gaps",
                "a pushed request without state takes the state sent next to request_uri (RFC9126-4-3)",
            ),
            Fault::FrontChannelNonceOverrides => (
                "front-channel-nonce-overrides",
                "a nonce sent next to request_uri replaces the pushed one in the ID token (RFC9126-4-3)",
            ),
            Fault::IntrospectionWithoutCnf => (
                "introspection-without-cnf",
                "introspection responses leave out the token's cnf binding (RFC9449-6.2-1, RFC8705-3.2-1)",
            ),
            Fault::JwtAccessTokenWithoutCnf => (
                "jwt-access-token-without-cnf",
                "JWT access tokens leave out the cnf binding claim (RFC9449-6.1-1, RFC8705-3.1-1)",
            ),
            Fault::ParRequestUriIgnored => (
                "par-request-uri-ignored",
                "PAR ignores a request_uri parameter in the pushed request instead of refusing it (RFC9126-2.1-1)",
            ),
            Fault::ParAnyMethod => (
                "par-any-method",
                "the PAR endpoint handles every method like POST, refusing GET and PUT as bad pushes, not with 405 (RFC9126-2.3-3)",
            ),
            Fault::DpopLenientParsing => (
                "dpop-lenient-parsing",
                "DPoP proofs are decoded leniently: characters outside base64url and bytes after the header's JSON are skipped (RFC9449-4.3-2)",
            ),
            Fault::DpopSignatureNotVerified => (
                "dpop-signature-not-verified",
                "DPoP proof signatures are not verified against the jwk header (RFC9449-4.3-6)",
            ),
            Fault::DpopPrivateJwkAccepted => (
                "dpop-private-jwk-accepted",
                "DPoP proofs whose jwk header holds the private key are accepted (RFC9449-4.3-7)",
            ),
            Fault::DpopFirstHeaderUsed => (
                "dpop-first-header-used",
                "with several DPoP headers the first is validated and the rest ignored (RFC9449-4.3-1)",
            ),
            Fault::PkceChallengeFormatNotChecked => (
                "pkce-challenge-format-not-checked",
                "any string is accepted as an S256 code_challenge, not only 43 to 128 unreserved characters (RFC7636-4.2-2)",
            ),
            Fault::ParDpopJktMismatchAccepted => (
                "par-dpop-jkt-mismatch-accepted",
                "PAR ignores the DPoP proof when dpop_jkt names another key (RFC9449-10.1-4)",
            ),
            Fault::ParDpopProofNotBinding => (
                "par-dpop-proof-not-binding",
                "a DPoP proof at PAR is checked but does not bind the code to its key (RFC9449-10.1-2)",
            ),
            Fault::ParDpopProofRefused => (
                "par-dpop-proof-refused",
                "PAR refuses pushed requests that carry a DPoP proof, supporting only dpop_jkt (RFC9449-10.1-3)",
            ),
            Fault::IdTokenAlgNone => (
                "id-token-alg-none",
                "ID tokens are unsigned, alg none (OIDC-2-9, FAPI2-SP-5.4.1-1.3)",
            ),
            Fault::IdTokenBogusKid => (
                "id-token-bogus-kid",
                "ID tokens name the kid of a retired key that the JWK Set no longer holds (OIDC-2-9)",
            ),
            Fault::IdTokenWrongAud => (
                "id-token-wrong-aud",
                "ID tokens carry the issuer as aud instead of the client_id (OIDC-2-3)",
            ),
            Fault::IdTokenExpired => (
                "id-token-expired",
                "ID tokens are issued with an exp ten minutes in the past (OIDC-2-4)",
            ),
            Fault::IdTokenWrongNonce => (
                "id-token-wrong-nonce",
                "ID tokens carry a fresh nonce instead of the one the request sent (OIDC-2-7)",
            ),
            Fault::IdTokenJkuHeader => (
                "id-token-jku-header",
                "ID token headers point at the JWK Set with jku (FAPI2-SP-5.4.2-2)",
            ),
            Fault::UserinfoOtherSub => (
                "userinfo-other-sub",
                "userinfo names a pairwise sub where the ID token has the public one (OIDC-5.3.2-1)",
            ),
            Fault::DpopNonceNotChecked => (
                "dpop-nonce-not-checked",
                "nonce mode: the AS demands a nonce in DPoP proofs but accepts any value, not only one it issued (RFC9449-8-3)",
            ),
            Fault::RsDpopNonceNotChecked => (
                "rs-dpop-nonce-not-checked",
                "nonce mode: the RS demands a nonce in DPoP proofs but accepts any value, not only one it issued (RFC9449-4.3-10)",
            ),
            Fault::DpopNonceChallengeMalformed => (
                "dpop-nonce-challenge-malformed",
                "nonce mode: the AS challenges for a DPoP nonce with HTTP 401, the resource server's form, not 400 (RFC9449-8-1)",
            ),
            Fault::RsDpopNonceChallengeMalformed => (
                "rs-dpop-nonce-challenge-malformed",
                "nonce mode: the RS challenges for a DPoP nonce with HTTP 400 and a JSON error, the AS's form, without WWW-Authenticate: DPoP (RFC9449-9-1)",
            ),
            Fault::DpopNonceTwoHeaders => (
                "dpop-nonce-two-headers",
                "nonce mode: nonce challenges of the AS and RS carry two DPoP-Nonce headers (RFC9449-8-2)",
            ),
            Fault::DpopNonceQuoted => (
                "dpop-nonce-quoted",
                "nonce mode: DPoP-Nonce values are sent as quoted strings, which 1*NQCHAR forbids (RFC9449-8.1-1)",
            ),
            Fault::DpopNonceOptional => (
                "dpop-nonce-optional",
                "nonce mode: the AS and RS hand out DPoP nonces on successful responses but accept proofs without one (RFC9449-11.3-1)",
            ),
            Fault::ParHttpRedirectUri => (
                "par-http-redirect-uri",
                "PAR accepts per-request redirect URIs from authenticated clients (RFC 9126 §2.4), plain http ones too (FAPI2-SP-5.3.2.2-8)",
            ),
            Fault::DpopLongJtiServerError => (
                "dpop-long-jti-server-error",
                "a DPoP proof with a jti over 256 characters makes the token endpoint and RS fail with HTTP 500 (RFC9449-11.1-3)",
            ),
            Fault::DpopHtuExactMatch => (
                "dpop-htu-exact-match",
                "DPoP htu is compared with the endpoint URL character by character, without normalising case or default port (RFC9449-4.3-p1)",
            ),
            Fault::FrontChannelOverridesPar => (
                "front-channel-overrides-par",
                "redirect_uri and state sent next to request_uri at the authorization endpoint override the pushed ones (RFC9126-4-3)",
            ),
            Fault::RequestUriCounter => (
                "request-uri-counter",
                "request_uris end in a zero-padded sequence number (req-000…0042) instead of a random value (RFC9126-2.2-2)",
            ),
            Fault::ShortCodes => (
                "short-codes",
                "authorization codes are 11 base64url characters, 64 random bits instead of at least 128 (FAPI2-SP-5.4.1-4)",
            ),
            Fault::AssertionHs256KeyConfusion => (
                "assertion-hs256-key-confusion",
                "HS256 client assertions are accepted, the MAC keyed with the PEM text of the client's registered public key (FAPI2-SP-5.4.1-1.1)",
            ),
            Fault::AssertionEmbeddedJwkTrusted => (
                "assertion-embedded-jwk-trusted",
                "a client assertion with a jwk header is verified with that key instead of the client's registered one (FAPI2-SP-5.4.1-1.1)",
            ),
            Fault::DpopHs256KeyConfusion => (
                "dpop-hs256-key-confusion",
                "HS256 DPoP proofs are accepted, the MAC keyed with the JSON text of the proof's jwk header (RFC9449-4.3-5, FAPI2-SP-5.4.1-1.1)",
            ),
            Fault::JwsCritIgnored => (
                "jws-crit-ignored",
                "client assertions and DPoP proofs whose crit header lists an extension the server does not understand are accepted (FAPI2-SP-5.4.1-1.1)",
            ),
        }
    }

    /// Whether the fault concerns server-provided DPoP nonces, so that the server must run in
    /// nonce mode for it to show (`demo` and `reference` switch that on).
    pub fn needs_dpop_nonce(self) -> bool {
        matches!(
            self,
            Fault::DpopNonceNotChecked
                | Fault::RsDpopNonceNotChecked
                | Fault::DpopNonceChallengeMalformed
                | Fault::RsDpopNonceChallengeMalformed
                | Fault::DpopNonceTwoHeaders
                | Fault::DpopNonceQuoted
                | Fault::DpopNonceOptional
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::parse(s).ok_or_else(|| UnknownFault { name: s.to_owned() })
    }
}

/// The set of faults switched on for one server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults(u128);

impl Faults {
    /// Whether `fault` is switched on.
    pub fn on(self, fault: Fault) -> bool {
        self.0 & Faults::bit(fault) != 0
    }

    fn bit(fault: Fault) -> u128 {
        // `Fault` is a fieldless enum with fewer than 128 variants (a test guards that).
        1u128 << (fault as u32)
    }
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        Faults(iter.into_iter().fold(0, |acc, f| acc | Faults::bit(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_parse_back() {
        assert!(Fault::ALL.len() >= 25 && Fault::ALL.len() < 128);
        for (i, f) in Fault::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i, "ALL is in declaration order");
            let name = f.name();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            assert_eq!(Fault::parse(name), Some(*f));
            assert_eq!(name.parse::<Fault>(), Ok(*f));
            assert!(!f.description().is_empty());
        }
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = "no-such-fault".parse::<Fault>().unwrap_err();
        assert!(err.to_string().contains("par-not-required"));
    }

    #[test]
    fn set_holds_exactly_its_members() {
        let set: Faults = [Fault::NoHsts, Fault::PasswordGrantAccepted]
            .into_iter()
            .collect();
        assert!(set.on(Fault::NoHsts) && set.on(Fault::PasswordGrantAccepted));
        assert!(!set.on(Fault::ParNotRequired));
        assert!(!Faults::default().on(Fault::NoHsts));
    }
}
