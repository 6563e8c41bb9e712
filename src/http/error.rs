//! The HTTP error type. Every failure leaves as `{"error":{"code","message"}}` with a 4xx/5xx
//! status; 500s are logged with their cause chain and never show internals to the client.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::store::StoreError;

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
    /// A required parameter is absent.
    #[error("missing required parameter '{0}'")]
    MissingParameter(String),
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
            tracing::error!(error = ?err, "request failed");
        }
        let message = match &self {
            Self::Unavailable => "the database is unreachable; try again shortly".to_owned(),
            other => other.to_string(),
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    }
}
