//! The claims of a token whose signature checked out: [`check`] turns them into [`Verified`] or
//! says which claim is wrong. REST and Socket.IO both get here through
//! [`Verifier::verify`](super::Verifier::verify), so they accept and refuse the same tokens.
//!
//! - `exp` (required) and `nbf` (optional) are NumericDates: any JSON number of seconds since
//!   1970, fractional ones included. `exp` has no leeway (the socket expiry timer fires at the
//!   same instant); `nbf` may be up to [`NBF_LEEWAY`] in the future (clock skew between the
//!   identity provider and the gateway). Conversions to a time are checked: a date beyond what
//!   the clock can represent never expires instead of overflowing.
//! - `aud` and `iss` are checked only when `--jwt-audience` / `--jwt-issuer` are set; then they
//!   are required. `aud` may be a string or a list of strings.
//! - `sub` is required; `variants` (a list of names or globs) defaults to none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::AuthError;

/// How far in the future a token's `nbf` may be and still be accepted: one minute, the usual
/// allowance for clocks that disagree a little (and jsonwebtoken's default leeway).
pub const NBF_LEEWAY: Duration = Duration::from_secs(60);

/// What the configuration requires of a token's claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimRules {
    /// `--jwt-audience`: `aud` must be or contain it.
    pub audience: Option<String>,
    /// `--jwt-issuer`: `iss` must equal it.
    pub issuer: Option<String>,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Who holds it (for logs).
    pub sub: String,
    /// Variant names or globs it grants.
    pub variants: Vec<String>,
    /// When it expires; `None` when `exp` lies beyond what the clock can represent.
    pub expires_at: Option<SystemTime>,
}

impl Verified {
    /// Time left before expiry, from `now`; `None` for a token that never expires in practice.
    pub fn left(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|t| t.duration_since(now).unwrap_or_default())
    }
}

/// A NumericDate claim: `None` when absent, an error when present but not a finite number.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
    invalid: &'static str,
) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or(AuthError::Invalid(invalid)),
    }
}

/// A string claim, or the error.
fn string<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
    missing: &'static str,
    wrong_type: &'static str,
) -> Result<&'a str, AuthError> {
    match claims.get(name) {
        None => Err(AuthError::Invalid(missing)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AuthError::Invalid(wrong_type)),
    }
}

/// Checks `claims` at `now` against `rules`.
pub fn check(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let exp = numeric_date(
        claims,
        "exp",
        "claim exp must be a NumericDate (seconds since 1970)",
    )?
    .ok_or(AuthError::Invalid(
        "claim exp is required (seconds since 1970)",
    ))?;
    let nbf = numeric_date(
        claims,
        "nbf",
        "claim nbf must be a NumericDate (seconds since 1970)",
    )?;
    if let Some(want) = &rules.audience {
        let aud = match claims.get("aud") {
            None => return Err(AuthError::Invalid("claim aud is required here")),
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(AuthError::Invalid(
                    "claim aud must be a string or a list of strings",
                ));
            }
        };
        if !aud.contains(&want.as_str()) {
            return Err(AuthError::Invalid("claim aud does not name this gateway"));
        }
    }
    if let Some(want) = &rules.issuer {
        let iss = string(
            claims,
            "iss",
            "claim iss is required here",
            "claim iss must be a string",
        )?;
        if iss != want {
            return Err(AuthError::Invalid("claim iss is not the accepted issuer"));
        }
    }
    let sub = string(
        claims,
        "sub",
        "claim sub is required",
        "claim sub must be a string",
    )?;
    let variants = match claims.get("variants") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(AuthError::Invalid(
                "claim variants must be a list of strings",
            ))?,
        Some(_) => {
            return Err(AuthError::Invalid(
                "claim variants must be a list of strings",
            ));
        }
    };
    // Validity windows last: a token that is wrong in shape is refused as such even when old.
    if now_s >= exp {
        return Err(AuthError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now_s + NBF_LEEWAY.as_secs_f64()) {
        return Err(AuthError::NotYetValid);
    }
    let expires_at = Duration::try_from_secs_f64(exp)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d));
    Ok(Verified {
        sub: sub.to_owned(),
        variants,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(claims: Value, rules: &ClaimRules) -> Result<Verified, AuthError> {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        check(&map, rules, now)
    }

    #[test]
    fn numeric_dates() {
        let open = ClaimRules::default();
        let ok = |c: Value| at(c.clone(), &open).unwrap_or_else(|e| panic!("{c}: {e}"));
        let v = ok(json!({"sub": "s", "exp": 1_000_000.5}));
        assert_eq!(
            v.left(UNIX_EPOCH + Duration::from_secs(1_000_000)),
            Some(Duration::from_millis(500))
        );
        ok(json!({"sub": "s", "exp": 2e6, "nbf": 1_000_059.5}));
        ok(json!({"sub": "s", "exp": 2e6, "nbf": -5}));
        for exp in [json!(2f64.powi(63)), json!(u64::MAX), json!(1e300)] {
            let v = ok(json!({"sub": "s", "exp": exp}));
            assert!(
                v.left(SystemTime::now())
                    .is_none_or(|d| d > Duration::from_secs(1 << 40))
            );
        }
        let err = |c: Value| at(c.clone(), &open).expect_err(&c.to_string());
        assert_eq!(
            err(json!({"sub": "s", "exp": 1_000_000})),
            AuthError::Expired
        );
        assert_eq!(err(json!({"sub": "s", "exp": -1})), AuthError::Expired);
        assert_eq!(
            err(json!({"sub": "s", "exp": 2e6, "nbf": 1_000_061})),
            AuthError::NotYetValid
        );
        for bad in [
            json!({"sub": "s"}),
            json!({"sub": "s", "exp": "2000000"}),
            json!({"sub": "s", "exp": null}),
            json!({"sub": "s", "exp": 2e6, "nbf": "x"}),
            json!({"exp": 2e6}),
            json!({"sub": 5, "exp": 2e6}),
            json!({"sub": "s", "exp": 2e6, "variants": "a"}),
            json!({"sub": "s", "exp": 2e6, "variants": [1]}),
        ] {
            assert!(matches!(err(bad.clone()), AuthError::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn audience_and_issuer_only_when_configured() {
        let open = ClaimRules::default();
        let strict = ClaimRules {
            audience: Some("gw".into()),
            issuer: Some("https://idp".into()),
        };
        let base = json!({"sub": "s", "exp": 2e6});
        let with = |extra: Value| {
            let mut c = base.clone();
            if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
                c.extend(e);
            }
            c
        };
        assert!(at(with(json!({"aud": "other", "iss": 3})), &open).is_ok());
        assert!(
            at(
                with(json!({"aud": ["x", "gw"], "iss": "https://idp"})),
                &strict
            )
            .is_ok()
        );
        for bad in [
            json!({"iss": "https://idp"}),
            json!({"aud": "other", "iss": "https://idp"}),
            json!({"aud": 1, "iss": "https://idp"}),
            json!({"aud": "gw"}),
            json!({"aud": "gw", "iss": "https://evil"}),
        ] {
            let e = at(with(bad.clone()), &strict).expect_err(&bad.to_string());
            assert!(matches!(e, AuthError::Invalid(m) if m.contains("aud") || m.contains("iss")));
        }
    }
}
