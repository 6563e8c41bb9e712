//! Secrets in configuration: [`DatabaseUrl`] holds a database URL whose `Debug` and `Display`
//! never show a password, and [`redact_url`] hides passwords in any URL-like text before it
//! reaches a log line or an error message; [`JwtSecret`] is the HS256 secret, which no `Debug`,
//! `Display` or parse error prints.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Query parameters whose values are secrets (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "secret",
    "token",
    "sslpassword",
    "auth",
    "apikey",
    "api_key",
];

/// A database URL. Only [`DatabaseUrl::expose`] returns the real text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`mysql`, `postgres`, `sqlite`, ...), or "" if there is none.
    pub fn scheme(&self) -> &str {
        self.0.split_once("://").map_or("", |(s, _)| s)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// `url` with every password replaced by `***`: the userinfo password and secret query
/// parameters (`?password=`, `sslpassword`, `token`, ...). Text that does not parse as a URL is
/// not echoed at all (it may be a password typed in the wrong place).
pub fn redact_url(url: &str) -> String {
    let hidden = |scheme: &str| {
        if scheme.is_empty() {
            "<hidden: not a URL>".to_owned()
        } else {
            format!("{scheme}://<hidden: not a valid URL>")
        }
    };
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return hidden("");
    }
    let Ok(mut parsed) = url::Url::parse(url) else {
        return hidden(scheme);
    };
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return hidden(scheme);
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMS.iter().any(|p| k.eq_ignore_ascii_case(p));
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // A password containing '/', '?' or '#' ends the authority early and lands in the path:
    // anything with '@' after the host is suspicious, so show no more than the host.
    let tail = format!(
        "{}{}{}",
        parsed.path(),
        parsed.query().unwrap_or(""),
        parsed.fragment().unwrap_or("")
    );
    if tail.contains('@') {
        return hidden(scheme);
    }
    parsed.to_string()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive() {
        let cases = [
            (
                "mysql://root:s3cret@db:3306/app",
                "mysql://root:***@db:3306/app",
            ),
            (
                "postgres://u@h/d?sslmode=disable",
                "postgres://u@h/d?sslmode=disable",
            ),
            (
                "postgres://u@h/d?password=s3cret&sslmode=require",
                "postgres://u@h/d?password=***&sslmode=require",
            ),
            (
                "postgres://u@h/d?PassWord=s3cret",
                "postgres://u@h/d?PassWord=***",
            ),
            ("sqlite://data/x.db", "sqlite://data/x.db"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
        for input in [
            "mysql://u:pa/ss3cret@h/db",
            "mysql://u:s3cret?x@h/db",
            "mysql://u:s3#cret@h/db",
            "u:s3cret@h/db",
            "s3cret",
            "my sql://u:s3cret@h",
        ] {
            let out = redact_url(input);
            assert!(
                !out.contains("s3") && !out.contains("cret"),
                "{input} -> {out}"
            );
        }
        let url = DatabaseUrl::new("mysql://root:s3cret@db/app");
        assert!(!format!("{url:?} {url}").contains("s3cret"));
        assert_eq!(url.expose(), "mysql://root:s3cret@db/app");
    }

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
}
