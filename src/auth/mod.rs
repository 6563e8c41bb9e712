//! Authentication and per-variant access: JWT bearer tokens.
//!
//! A token carries `sub` (who), `exp` (until when, Unix seconds) and `variants`: names or glob
//! patterns (`trend_*`, `*`) of the variants its holder may read. [`Verifier`] checks the
//! signature (HS256 with a shared secret, RS256/ES256 with a public key file) and the expiry;
//! [`Grants`] answers "may this token read variant X".
//!
//! - [`config`]: the flags (`--jwt-secret`, `--jwt-public-key`, `--allow-anonymous`) and the
//!   secure-default check for public listen addresses.
//! - [`rest`]: the `/api` middleware (401) and the [`rest::Access`] extractor (403).
//! - [`socket`]: the Socket.IO connect middleware, subscribe check and expiry timer.
//!
//! Without a secret or key, authentication is off and every variant is readable (anonymous).

pub mod config;
pub mod rest;
pub mod socket;

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

pub use config::{AuthConfig, JwtSecret};

/// The claims signalgate reads from a token.
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
    /// Bad shape, signature, algorithm or claims.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

/// Checks token signatures and expiry.
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<Algorithm> = self.keys.iter().map(|(a, _)| *a).collect();
        f.debug_struct("Verifier")
            .field("algorithms", &algs)
            .finish()
    }
}

impl Verifier {
    /// A verifier from configured keys: HS256 for the secret, RS256 or ES256 for the public key
    /// (whichever the PEM holds). `None` when neither is configured.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Option<Self>> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.jwt_secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.expose().as_bytes()),
            ));
        }
        if let Some(path) = &config.jwt_public_key {
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
        Ok((!keys.is_empty()).then_some(Self { keys }))
    }

    /// The token's claims, if its signature is good and it has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("not a JSON web token"))?;
        let (alg, key) = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or(AuthError::Invalid("algorithm not accepted"))?;
        let mut validation = Validation::new(*alg);
        // `exp` is enforced to the second: the socket expiry timer uses the same instant.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature"),
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                    AuthError::Invalid("claims sub, exp and variants are required")
                }
                _ => AuthError::Invalid("malformed token"),
            })
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
            let config = AuthConfig {
                jwt_public_key: Some(fixture(public)),
                ..AuthConfig::default()
            };
            let v = Verifier::from_config(&config).unwrap().unwrap();
            let pem = std::fs::read(fixture(private)).unwrap();
            let key = match alg {
                Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
                _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
            };
            let token = jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap();
            assert_eq!(v.verify(&token), Ok(claims.clone()), "{alg:?}");
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
        let bad = AuthConfig {
            jwt_public_key: Some(fixture("README.md")),
            ..AuthConfig::default()
        };
        assert!(Verifier::from_config(&bad).is_err());
    }

    #[test]
    fn mint_and_verify() {
        let secret = JwtSecret::new("s3cret-for-tests");
        let config = AuthConfig {
            jwt_secret: Some(secret.clone()),
            ..AuthConfig::default()
        };
        let v = Verifier::from_config(&config).unwrap().unwrap();
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
