//! Tokens as identity providers issue them: one table of claims sent to REST (`Authorization:
//! Bearer`) and to the Socket.IO handshake (`auth.token`) of a gateway without and with
//! `--jwt-audience` / `--jwt-issuer`; both transports must give the same, expected answer, and
//! no claim may crash a handler.

use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use signalgate::auth::{JwtSecret, now_secs};

use crate::common::{Backend, TestDb, app::TestApp, raw_sio::RawSocket, spawn_app_with};

const SECRET: &str = "tokens-test-secret-0123456789";
const AUD: &str = "signalgate";
const ISS: &str = "https://idp.example";

/// What a transport answered: `Ok` or the refusal message.
type Outcome = Result<(), String>;

fn sign(claims: &Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&Header::default(), claims, &key).expect("sign")
}

async fn rest(app: &TestApp, token: &str) -> Outcome {
    let resp = app
        .http
        .get(format!("{}/api/variants", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::UNAUTHORIZED => Err(body["error"]["message"].as_str().unwrap_or("").into()),
        other => panic!("REST answered {other}: {body}"),
    }
}

async fn socket(app: &TestApp, token: &str) -> Outcome {
    let connect = RawSocket::connect_auth(&app.base, Some(json!({"token": token})));
    match tokio::time::timeout(Duration::from_secs(20), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(refused)) => Err(refused["message"].as_str().unwrap_or("").into()),
        Err(_) => panic!("the handshake got no answer (did the handler panic?)"),
    }
}

/// Claims with everything the strict gateway wants, plus `extra` (a `null` removes a claim).
fn claims(extra: Value) -> Value {
    let mut c = json!({
        "sub": "svc", "exp": now_secs() + 600, "variants": ["*"], "aud": AUD, "iss": ISS,
        "iat": now_secs(),
    });
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        for (k, v) in extra {
            if v.is_null() {
                c.remove(&k);
            } else {
                c.insert(k, v);
            }
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_and_socket_agree_on_every_token() {
    let open = spawn_app_with(TestDb::create(Backend::Sqlite).await, |c| {
        c.auth.jwt_secret = Some(JwtSecret::new(SECRET));
    })
    .await;
    let strict = spawn_app_with(TestDb::create(Backend::Sqlite).await, |c| {
        c.auth.jwt_secret = Some(JwtSecret::new(SECRET));
        c.auth.jwt_audience = Some(AUD.into());
        c.auth.jwt_issuer = Some(ISS.into());
    })
    .await;
    let now = now_secs() as f64;
    let ok = || Ok(());
    let no = |m: &str| Err(m.to_owned());
    let expired = "token expired";
    let not_yet = "token not yet valid (nbf is in the future)";
    let exp_type = "invalid token: claim exp must be a NumericDate (seconds since 1970)";
    // (case, claims, answer without aud/iss checks, answer with them)
    let cases: Vec<(&str, Value, Outcome, Outcome)> = vec![
        ("provider token", claims(json!({})), ok(), ok()),
        (
            "aud list",
            claims(json!({"aud": ["other", AUD]})),
            ok(),
            ok(),
        ),
        (
            "no aud",
            claims(json!({"aud": null})),
            ok(),
            no("invalid token: claim aud is required here"),
        ),
        (
            "wrong aud",
            claims(json!({"aud": "other-api"})),
            ok(),
            no("invalid token: claim aud does not name this gateway"),
        ),
        (
            "no iss",
            claims(json!({"iss": null})),
            ok(),
            no("invalid token: claim iss is required here"),
        ),
        (
            "wrong iss",
            claims(json!({"iss": "https://evil.example"})),
            ok(),
            no("invalid token: claim iss is not the accepted issuer"),
        ),
        (
            "nbf in an hour",
            claims(json!({"nbf": now + 3600.0})),
            no(not_yet),
            no(not_yet),
        ),
        (
            "nbf within the leeway",
            claims(json!({"nbf": now + 20.0})),
            ok(),
            ok(),
        ),
        (
            "nbf past, fractional",
            claims(json!({"nbf": now - 10.25})),
            ok(),
            ok(),
        ),
        (
            "fractional exp",
            claims(json!({"exp": now + 600.5})),
            ok(),
            ok(),
        ),
        ("exp 2^63", claims(json!({"exp": 1u64 << 63})), ok(), ok()),
        (
            "exp 2^63 without aud",
            claims(json!({"exp": 1u64 << 63, "aud": null})),
            ok(),
            no("invalid token: claim aud is required here"),
        ),
        ("exp u64::MAX", claims(json!({"exp": u64::MAX})), ok(), ok()),
        ("exp 1e300", claims(json!({"exp": 1e300})), ok(), ok()),
        (
            "exp as a string",
            claims(json!({"exp": (now_secs() + 600).to_string()})),
            no(exp_type),
            no(exp_type),
        ),
        (
            "negative exp",
            claims(json!({"exp": -1})),
            no(expired),
            no(expired),
        ),
        (
            "exp passed",
            claims(json!({"exp": now - 10.0})),
            no(expired),
            no(expired),
        ),
        (
            "no exp",
            claims(json!({"exp": null})),
            no("invalid token: claim exp is required (seconds since 1970)"),
            no("invalid token: claim exp is required (seconds since 1970)"),
        ),
        (
            "no sub",
            claims(json!({"sub": null})),
            no("invalid token: claim sub is required"),
            no("invalid token: claim sub is required"),
        ),
    ];
    let mut failures = Vec::new();
    for (case, claims, want_open, want_strict) in cases {
        let token = sign(&claims);
        for (app, want, which) in [(&open, want_open, "open"), (&strict, want_strict, "strict")] {
            let (r, s) = (rest(app, &token).await, socket(app, &token).await);
            if r != want || s != want {
                failures.push(format!(
                    "{case} ({which}): want {want:?}, REST {r:?}, Socket.IO {s:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The gateway is still whole after every one of them.
    let token = sign(&claims(json!({})));
    assert_eq!(socket(&strict, &token).await, Ok(()));
    open.finish().await;
    strict.finish().await;
}
