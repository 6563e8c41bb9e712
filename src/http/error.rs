//! The HTTP error type. Every failure leaves as `{"error":{"code","message"}}` with a 4xx/5xx
//! status; 500s are logged with their cause chain and never show internals to the client.

use axum::{
    Json,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::store::StoreError;

/// The body of every error response: `{"error":{"code","message"}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` object of an error body.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `invalid_parameter`, `missing_parameter`,
    /// `unknown_parameter`, `unauthorized`, `forbidden`, `not_found`, `rate_limited`,
    /// `method_not_allowed`, `uri_too_long`, `headers_too_large`, `database_unavailable`,
    /// `not_ready` (`/readyz`) or `internal`.
    #[schema(examples("invalid_parameter"))]
    pub code: String,
    /// A sentence for humans; a parameter error names the parameter.
    #[schema(examples("limit: '0' is out of range; expected an integer from 1 to 5000"))]
    pub message: String,
}

impl ErrorBody {
    /// The body for `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is present but malformed or out of range.
    #[error("{param}: {message}")]
    InvalidParameter {
        /// Parameter name as the client wrote it.
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// A query parameter the route does not know.
    #[error("{0}")]
    UnknownParameter(String),
    /// A required parameter is absent.
    #[error("missing required parameter '{0}'")]
    MissingParameter(String),
    /// No valid bearer token (authentication is on).
    #[error("{0}")]
    Unauthorized(String),
    /// The token does not grant this variant.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing at this address.
    #[error("{0}")]
    NotFound(String),
    /// The database cannot be reached right now.
    #[error("database unavailable")]
    Unavailable,
    /// Anything else; logged, reported as a generic 500.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// Shorthand for [`ApiError::InvalidParameter`].
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            param: param.to_owned(),
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            Self::MissingParameter(_) => (StatusCode::BAD_REQUEST, "missing_parameter"),
            Self::UnknownParameter(_) => (StatusCode::BAD_REQUEST, "unknown_parameter"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(err) = &self {
            // One line with the whole cause chain (`a: b: c`).
            let chain: &(dyn std::error::Error + 'static) = err.as_ref();
            tracing::error!(error = %crate::telemetry::error_chain(chain), "request failed");
        }
        let message = match &self {
            Self::Unavailable => "the database is unreachable; try again shortly".to_owned(),
            other => other.to_string(),
        };
        let mut res = (status, Json(ErrorBody::new(code, message))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// Gives every error response the `{"error":{"code","message"}}` shape: axum's own rejections
/// (405 with `Allow`, 413, ...) come with an empty or plain-text body. Headers are kept.
pub async fn json_error_bodies(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let reason = status.canonical_reason().unwrap_or("error");
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("GET")
                .to_owned();
            (
                "method_not_allowed",
                format!("method not allowed; this route accepts {allow}"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large".to_owned()),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "request URI too long".to_owned()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "request headers too large".to_owned())
        }
        StatusCode::NOT_FOUND => ("not_found", "not found".to_owned()),
        s if s.is_server_error() => ("internal", reason.to_lowercase()),
        _ => ("bad_request", reason.to_lowercase()),
    };
    let (_, body) = Json(ErrorBody::new(code, message))
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, body)
}

/// Longest request URI served (hyper itself answers 414 without a body only far beyond this).
pub(super) const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes in one request (hyper's own limit, with an empty 431, is much higher).
pub(super) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Rejects oversized URIs and header sets with a JSON error before any handler runs.
pub async fn limit_request_size(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri_len = req.uri().to_string().len();
    if uri_len > MAX_URI_BYTES {
        let message = format!("request URI is {uri_len} bytes; the limit is {MAX_URI_BYTES}");
        return error_response(StatusCode::URI_TOO_LONG, "uri_too_long", message);
    }
    let header_len: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_len > MAX_HEADER_BYTES {
        let message =
            format!("request headers are {header_len} bytes; the limit is {MAX_HEADER_BYTES}");
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            message,
        );
    }
    next.run(req).await
}

fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}
