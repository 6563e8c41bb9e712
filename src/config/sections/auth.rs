//! Authentication settings, and the secure default: no public listen address without
//! authentication unless `--allow-anonymous`.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::{
    ConfigError,
    secret::{JwtSecret, SecretParser},
};

/// Authentication settings.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
pub struct AuthConfig {
    /// Shared secret for HS256 tokens (at least 16 bytes). Enables authentication.
    #[arg(
        long,
        env = "SIGNALGATE_JWT_SECRET",
        global = true,
        hide_env_values = true,
        value_parser = SecretParser
    )]
    pub jwt_secret: Option<JwtSecret>,

    /// PEM public key (RSA for RS256 or EC P-256 for ES256) to verify tokens signed elsewhere.
    /// Enables authentication.
    #[arg(long, env = "SIGNALGATE_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,

    /// Audience tokens must carry in `aud` (identity providers set it to the API a token is
    /// for). Unset: `aud` is not checked.
    #[arg(long, env = "SIGNALGATE_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// Issuer tokens must carry in `iss` (the identity provider's URL). Unset: `iss` is not
    /// checked.
    #[arg(long, env = "SIGNALGATE_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// Serve without authentication on a non-loopback address (anyone reaching the port reads
    /// every variant).
    #[arg(long, env = "SIGNALGATE_ALLOW_ANONYMOUS", global = true)]
    #[serde(default)]
    pub allow_anonymous: bool,
}

impl AuthConfig {
    /// Whether a secret or a key is configured.
    pub fn enabled(&self) -> bool {
        self.jwt_secret.is_some() || self.jwt_public_key.is_some()
    }

    /// The secure default: refuses a non-loopback `listen` without authentication unless
    /// `--allow-anonymous`, saying why.
    pub fn check_exposure(&self, listen: SocketAddr) -> Result<(), ConfigError> {
        if self.enabled() || self.allow_anonymous || listen.ip().is_loopback() {
            return Ok(());
        }
        Err(ConfigError::Value(format!(
            "refusing to listen on {listen} without authentication: anyone who reaches this \
             address could read every variant. Set --jwt-secret (or --jwt-public-key), or pass \
             --allow-anonymous to serve it unauthenticated on purpose"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_listen_needs_auth_or_opt_in() {
        let public: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let mut c = AuthConfig::default();
        assert!(c.check_exposure("127.0.0.1:3000".parse().unwrap()).is_ok());
        assert!(c.check_exposure("[::1]:3000".parse().unwrap()).is_ok());
        let err = c.check_exposure(public).unwrap_err().to_string();
        assert!(err.contains("--allow-anonymous"), "{err}");
        c.allow_anonymous = true;
        assert!(c.check_exposure(public).is_ok());
        let c = AuthConfig {
            jwt_secret: Some(JwtSecret::new("0123456789abcdef")),
            ..AuthConfig::default()
        };
        assert!(c.check_exposure(public).is_ok());
    }
}
