//! The plan model: what a YAML test plan may say. Data only; `load.rs` parses and validates it.
//!
//! Every struct denies unknown fields and every vocabulary (steps, checks, variants) is a closed
//! enum, so a typo is a located error at load time, never a surprise halfway through a run.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::checks::CheckSpec;
use crate::fapi::step::Step;

/// A whole plan file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Short machine name, e.g. `fapi2-security-profile`. Names the JUnit suites.
    pub plan: String,
    /// Human title for reports.
    pub title: String,
    /// The specification edition the plan tests, e.g. `FAPI 2.0 Security Profile (Final, 2025)`.
    pub spec: String,
    /// Which profile's rule wins where specs conflict (requirements.md, "Cross-spec conflicts").
    pub profile: Profile,
    /// The variant matrix this plan runs in.
    #[serde(default)]
    pub variants: VariantMatrix,
    pub items: Vec<Item>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    Fapi2SecurityProfile,
    Fapi2MessageSigning,
    Fapi1Advanced,
}

impl Profile {
    /// The name plans write under `profile:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fapi2SecurityProfile => "fapi2-security-profile",
            Profile::Fapi2MessageSigning => "fapi2-message-signing",
            Profile::Fapi1Advanced => "fapi1-advanced",
        }
    }
}

/// Requirement strength: decides whether a violated claim FAILs, WARNs or only informs.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Must,
    Should,
    May,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::May => "may",
        }
    }
}

/// The dimensions of the variant matrix. Closed on purpose: the engine must know every value.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VariantMatrix {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_auth: Vec<ClientAuth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender_constraint: Vec<SenderConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openid: Vec<OpenidMode>,
}

/// Client authentication method at the token and PAR endpoints (FAPI2-SP-5.3.2.1-6).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    PrivateKeyJwt,
    TlsClientAuth,
}

/// How access tokens are sender-constrained (FAPI2-SP-5.3.2.1-5).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SenderConstraint {
    Dpop,
    Mtls,
}

/// Whether the `openid` scope is requested (OpenID Connect) or not (plain OAuth).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OpenidMode {
    Openid,
    Oauth,
}

/// One checklist item: a requirement, the steps that exercise it and the checks that judge it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: Spanned<String>,
    pub title: String,
    pub level: Level,
    /// Catalogue ids this item judges; at least one.
    pub refs: Vec<Spanned<String>>,
    /// Name of the matching OpenID Foundation conformance-suite module, where one exists.
    #[serde(default)]
    pub oidf: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Restricts the item to some variants; a dimension left out means "all".
    #[serde(default)]
    pub applies: VariantMatrix,
    /// Target capabilities the item needs; without them it is SKIPped with the reason.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// What the item sends, in order.
    pub flow: Vec<Spanned<Step>>,
    /// What must hold afterwards. Every check runs, even after one fails.
    pub expect: Vec<Spanned<CheckSpec>>,
    /// Free text shown by `explain` and in the HTML report: what the item does and why.
    #[serde(default)]
    pub description: Option<String>,
    /// Run once per run instead of once per variant: for items whose requests do not depend on
    /// the variant (metadata, JWKS, TLS). Reported under the variant `all`.
    #[serde(default)]
    pub once: bool,
}

/// Something a target may or may not offer.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// A second registered client, for cross-client checks.
    SecondClient,
    /// At least one protected-resource URL.
    Resource,
    /// A `private_key_jwt` client with an RSA signing key.
    RsaClient,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::SecondClient => "second_client",
            Capability::Resource => "resource",
            Capability::RsaClient => "rsa_client",
        }
    }
}

/// One concrete combination of the variant dimensions, e.g. `private_key_jwt, dpop, openid`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct Variant {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_constraint: Option<SenderConstraint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<OpenidMode>,
}

impl Variant {
    /// `key=value` pairs joined with commas; `default` when the plan has no matrix.
    pub fn label(&self) -> String {
        let parts = self.pairs();
        if parts.is_empty() {
            return "default".to_owned();
        }
        parts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The dimensions that are set, as `(name, value)`.
    pub fn pairs(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if let Some(v) = self.client_auth {
            out.push(("client_auth", v.as_str()));
        }
        if let Some(v) = self.sender_constraint {
            out.push(("sender_constraint", v.as_str()));
        }
        if let Some(v) = self.openid {
            out.push(("openid", v.as_str()));
        }
        out
    }

    pub fn to_map(&self) -> IndexMap<String, String> {
        self.pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl ClientAuth {
    pub const ALL: [ClientAuth; 2] = [ClientAuth::PrivateKeyJwt, ClientAuth::TlsClientAuth];
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
            ClientAuth::TlsClientAuth => "tls_client_auth",
        }
    }
}

impl SenderConstraint {
    pub const ALL: [SenderConstraint; 2] = [SenderConstraint::Dpop, SenderConstraint::Mtls];
    pub fn as_str(self) -> &'static str {
        match self {
            SenderConstraint::Dpop => "dpop",
            SenderConstraint::Mtls => "mtls",
        }
    }
}

impl OpenidMode {
    pub const ALL: [OpenidMode; 2] = [OpenidMode::Openid, OpenidMode::Oauth];
    pub fn as_str(self) -> &'static str {
        match self {
            OpenidMode::Openid => "openid",
            OpenidMode::Oauth => "oauth",
        }
    }
}

impl VariantMatrix {
    /// Whether `variant` lies inside this restriction (an empty dimension allows every value).
    pub fn admits(&self, variant: &Variant) -> bool {
        fn ok<T: PartialEq>(allowed: &[T], value: Option<T>) -> bool {
            allowed.is_empty() || value.is_none_or(|v| allowed.contains(&v))
        }
        ok(&self.client_auth, variant.client_auth)
            && ok(&self.sender_constraint, variant.sender_constraint)
            && ok(&self.openid, variant.openid)
    }

    /// Every combination, in declaration order (the first dimension varies slowest).
    pub fn expand(&self) -> Vec<Variant> {
        fn dim<T: Copy>(values: &[T]) -> Vec<Option<T>> {
            if values.is_empty() {
                vec![None]
            } else {
                values.iter().copied().map(Some).collect()
            }
        }
        let mut out = Vec::new();
        for client_auth in dim(&self.client_auth) {
            for sender_constraint in dim(&self.sender_constraint) {
                for openid in dim(&self.openid) {
                    out.push(Variant {
                        client_auth,
                        sender_constraint,
                        openid,
                    });
                }
            }
        }
        out
    }
}
