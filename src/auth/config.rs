//! Authentication settings, the `token` subcommand's flags, and the secure default: no public
//! listen address without authentication unless `--allow-anonymous`.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::Args;
use serde::{Deserialize, Serialize};

/// The HS256 secret. Only [`JwtSecret::expose`] returns it; `Debug` and `Display` print `***`,
/// and no parse error (flag, environment or TOML) echoes it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct JwtSecret(String);

impl<'de> Deserialize<'de> for JwtSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Untagged: a wrong type fails with a fixed message instead of serde's
        // `invalid type: integer `1234…``, which would quote the value.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Other(serde::de::IgnoredAny),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Raw::Other(_) => Err(serde::de::Error::custom("the secret must be a string")),
        }
    }
}

/// Parses `--jwt-secret` / `SIGNALGATE_JWT_SECRET` without clap's usual `invalid value '<the
/// value>'`: the error names the flag and the problem, never the secret.
#[derive(Debug, Clone, Copy)]
pub struct SecretParser;

impl clap::builder::TypedValueParser for SecretParser {
    type Value = JwtSecret;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<JwtSecret, clap::Error> {
        let flag = arg.and_then(|a| a.get_long()).unwrap_or("jwt-secret");
        let refuse = |problem: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '--{flag}': {problem}\n"),
            )
            .with_cmd(cmd)
        };
        value
            .to_str()
            .ok_or_else(|| refuse("the secret is not UTF-8".into()))?
            .parse()
            .map_err(refuse)
    }
}

impl JwtSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, for signing and verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

impl fmt::Display for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for JwtSecret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A short shared secret can be brute-forced offline from any token.
        if s.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret is {} bytes; use at least {MIN_SECRET_BYTES}",
                s.len()
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// Shortest accepted `--jwt-secret` (bytes).
pub const MIN_SECRET_BYTES: usize = 16;

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
    pub fn check_exposure(&self, listen: SocketAddr) -> anyhow::Result<()> {
        if self.enabled() || self.allow_anonymous || listen.ip().is_loopback() {
            return Ok(());
        }
        anyhow::bail!(
            "refusing to listen on {listen} without authentication: anyone who reaches this \
             address could read every variant. Set --jwt-secret (or --jwt-public-key), or pass \
             --allow-anonymous to serve it unauthenticated on purpose"
        )
    }
}

/// `token` flags: mint an HS256 token with `--jwt-secret`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Subject: who the token is for (shows in logs).
    #[arg(long)]
    pub sub: String,
    /// Variants the token may read: names or globs, comma-separated (`trend_*,mm_a`; `*` = all).
    #[arg(long, value_delimiter = ',', required = true)]
    pub variants: Vec<String>,
    /// Lifetime (`30m`, `24h`, `90d`).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,
}

/// A human duration: `90d`, `24h`, `30m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 24h or 90d: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s: JwtSecret = "0123456789abcdef-secret".parse().unwrap();
        assert!(!format!("{s:?} {s}").contains("secret"));
        assert!("short".parse::<JwtSecret>().is_err());
        for toml in [
            "\"short\"",
            "1234567890123456789",
            "[\"0123456789abcdef-secret\"]",
        ] {
            let err = serde_json::from_value::<JwtSecret>(
                serde_json::to_value(
                    toml::from_str::<toml::Value>(&format!("s = {toml}")).unwrap()["s"].clone(),
                )
                .unwrap(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                !err.contains("short") && !err.contains("12345") && !err.contains("abcdef"),
                "{err}"
            );
        }
    }

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
