//! Authentication and per-variant access: JWT bearer tokens.
//!
//! A token carries `sub` (who), `exp` (until when, Unix seconds) and `variants`: names or glob
//! patterns (`trend_*`, `*`) of the variants its holder may read. [`Verifier`] checks the
//! signature (HS256 with a shared secret, RS256/ES256 with a public key file), then the claims
//! ([`claims`]: expiry, `nbf`, and `aud` / `iss` when configured); [`Grants`] answers "may this
//! token read variant X".
//!
//! - [`claims`]: the claim checks, shared by REST and Socket.IO.
//!
//! The settings (`--jwt-secret`, `--jwt-public-key`, `--jwt-audience`, `--jwt-issuer`,
//! `--allow-anonymous`) and the secure-default check for public listen addresses are
//! [`crate::config`]'s `AuthConfig`; [`Verifier::new`] takes their values.
//!
//! Token verification only: the transports apply it where they live, REST in
//! [`crate::http`]'s `auth` middleware and `Access` extractor, Socket.IO in
//! [`crate::realtime`]'s connect middleware.
//!
//! Without a secret or key, authentication is off and every variant is readable (anonymous).

pub mod claims;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

/// The HS256 secret ([`mint`] signs with it), a configuration value.
pub use crate::config::JwtSecret;
pub use claims::{ClaimRules, Verified};

/// The claims `signalgate token` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who holds the token (logged, never checked).
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Variant names or glob patterns (`*` matches any run of characters).
    #[serde(default)]
    pub variants: Vec<String>,
}

/// Which variants a token may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    patterns: Vec<String>,
}

impl Grants {
    /// Grants from the `variants` claim.
    pub fn new(patterns: Vec<String>) -> Self {
        Self { patterns }
    }

    /// Whether `variant` matches one of the patterns.
    pub fn allows(&self, variant: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, variant))
    }
}

/// `*` matches any run of characters (also none); every other character matches itself.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*` at all: exact match
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Why a token was refused. The message never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("authentication required: send a bearer token")]
    Missing,
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token's `nbf` is still ahead (beyond the leeway).
    #[error("token not yet valid (nbf is in the future)")]
    NotYetValid,
    /// Bad shape, signature, algorithm or claims.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

/// The verifier, or `None` when authentication is off.
pub type MaybeVerifier = Option<Arc<Verifier>>;

/// Checks token signatures and claims.
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    rules: ClaimRules,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<Algorithm> = self.keys.iter().map(|(a, _)| *a).collect();
        f.debug_struct("Verifier")
            .field("algorithms", &algs)
            .field("rules", &self.rules)
            .finish()
    }
}

impl Verifier {
    /// A verifier from configured keys: HS256 for `secret` (`--jwt-secret`), RS256 or ES256 for
    /// the PEM file `public_key` (`--jwt-public-key`, whichever the PEM holds), checking the
    /// claims against `rules`. `None` when neither key is given.
    pub fn new(
        secret: Option<&JwtSecret>,
        public_key: Option<&Path>,
        rules: ClaimRules,
    ) -> anyhow::Result<Option<Self>> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.expose().as_bytes()),
            ));
        }
        if let Some(path) = public_key {
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("--jwt-public-key: cannot read {}: {e}", path.display())
            })?;
            let key = if let Ok(k) = DecodingKey::from_ec_pem(&pem) {
                (Algorithm::ES256, k)
            } else if let Ok(k) = DecodingKey::from_rsa_pem(&pem) {
                (Algorithm::RS256, k)
            } else {
                anyhow::bail!(
                    "--jwt-public-key: {} is not a PEM RSA or EC (P-256) public key",
                    path.display()
                );
            };
            keys.push(key);
        }
        Ok((!keys.is_empty()).then_some(Self { keys, rules }))
    }

    /// The token's claims, if its signature is good and its claims pass [`claims::check`] now.
    /// The one check behind REST and Socket.IO.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        self.verify_at(token, SystemTime::now())
    }

    /// [`Verifier::verify`] at `now`.
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<Verified, AuthError> {
        let token = token.trim();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("not a JSON web token"))?;
        let (alg, key) = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or(AuthError::Invalid("algorithm not accepted"))?;
        // The signature only: every claim is checked by `claims::check`, with checked time
        // arithmetic and one message per claim.
        let mut validation = Validation::new(*alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::Invalid("bad signature"),
            ErrorKind::Json(_) => AuthError::Invalid("the claims are not a JSON object"),
            _ => AuthError::Invalid("malformed token"),
        })?
        .claims;
        claims::check(&claims, &self.rules, now)
    }
}

/// Mints an HS256 token for `sub`, valid for `ttl` (what `signalgate token` prints).
pub fn mint(
    secret: &JwtSecret,
    sub: &str,
    variants: Vec<String>,
    ttl: Duration,
) -> anyhow::Result<String> {
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now_secs() + ttl.as_secs(),
        variants,
    };
    let key = EncodingKey::from_secret(secret.expose().as_bytes());
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &key,
    )?)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = Grants::new(vec!["trend_*".into(), "mm_a".into(), "x*y*z".into()]);
        for ok in ["trend_", "trend_1", "mm_a", "xyz", "x_y_z", "xyyzz"] {
            assert!(g.allows(ok), "{ok}");
        }
        for no in ["trend", "mm_ab", "mm", "xzy", "xy", "a_trend_1"] {
            assert!(!g.allows(no), "{no}");
        }
        assert!(Grants::new(vec!["*".into()]).allows("anything"));
        assert!(!Grants::new(vec![]).allows("anything"));
        assert!(!Grants::new(vec!["ab*ba".into()]).allows("aba"));
    }

    #[test]
    fn public_keys_verify_es256_and_rs256() {
        let fixture = |name: &str| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name)
        };
        let claims = Claims {
            sub: "svc".into(),
            exp: now_secs() + 60,
            variants: vec!["a*".into()],
        };
        for (alg, private, public) in [
            (
                Algorithm::ES256,
                "jwt_es256_private.pem",
                "jwt_es256_public.pem",
            ),
            (
                Algorithm::RS256,
                "jwt_rs256_private.pem",
                "jwt_rs256_public.pem",
            ),
        ] {
            let v = Verifier::new(None, Some(&fixture(public)), ClaimRules::default())
                .unwrap()
                .unwrap();
            let pem = std::fs::read(fixture(private)).unwrap();
            let key = match alg {
                Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
                _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
            };
            let token = jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap();
            let got = v.verify(&token).map(|v| (v.sub, v.variants));
            assert_eq!(got, Ok(("svc".into(), vec!["a*".into()])), "{alg:?}");
            // Identity providers set `aud`: accepted while --jwt-audience is unset.
            let idp = serde_json::json!({"sub": "svc", "exp": now_secs() + 60, "aud": "api://x"});
            let token = jsonwebtoken::encode(&Header::new(alg), &idp, &key).unwrap();
            assert!(v.verify(&token).is_ok(), "{alg:?}: aud refused");
            // Without a secret, HS256 tokens are refused (no algorithm confusion).
            let hs = mint(
                &JwtSecret::new("0123456789abcdef"),
                "x",
                vec![],
                Duration::from_secs(60),
            );
            assert_eq!(
                v.verify(&hs.unwrap()),
                Err(AuthError::Invalid("algorithm not accepted"))
            );
        }
        let bad = fixture("README.md");
        assert!(Verifier::new(None, Some(&bad), ClaimRules::default()).is_err());
    }

    #[test]
    fn mint_and_verify() {
        let secret = JwtSecret::new("s3cret-for-tests");
        let v = Verifier::new(Some(&secret), None, ClaimRules::default())
            .unwrap()
            .unwrap();
        let token = mint(&secret, "ops", vec!["a".into()], Duration::from_secs(60)).unwrap();
        let claims = v.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.variants.len()), ("ops", 1));
        let other = mint(
            &JwtSecret::new("other"),
            "x",
            vec![],
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(v.verify(&other), Err(AuthError::Invalid("bad signature")));
        let expired = jsonwebtoken::encode(
            &Header::default(),
            &Claims {
                sub: "x".into(),
                exp: now_secs() - 1,
                variants: vec![],
            },
            &EncodingKey::from_secret(b"s3cret-for-tests"),
        )
        .unwrap();
        assert_eq!(v.verify(&expired), Err(AuthError::Expired));
        assert!(matches!(v.verify("garbage"), Err(AuthError::Invalid(_))));
    }
}
