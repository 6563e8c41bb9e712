//! REST authentication (the transport side of [`crate::auth`]): [`require_token`] guards `/api`
//! (401 without a valid bearer token) and puts the token's [`Grants`] into the request; handlers
//! take the [`Access`] extractor to check a variant (403) or filter a list.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::ApiError;
use crate::auth::{AuthError, Grants, MaybeVerifier};

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

/// Middleware: verifies `Authorization: Bearer <token>` and stores its grants for [`Access`].
pub async fn require_token(
    State(verifier): State<MaybeVerifier>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(verifier) = verifier else {
        return next.run(req).await;
    };
    let token = bearer_token(req.headers());
    let claims = match token.map(|t| verifier.verify(t)) {
        Some(Ok(claims)) => claims,
        Some(Err(err)) => return reject(err),
        None => return reject(AuthError::Missing),
    };
    tracing::debug!(sub = %claims.sub, "authenticated request");
    req.extensions_mut()
        .insert(Arc::new(Grants::new(claims.variants)));
    next.run(req).await
}

fn reject(err: AuthError) -> Response {
    tracing::info!(reason = %err, "REST request refused: unauthorized");
    metrics::counter!("signalgate_unauthorized_total").increment(1);
    ApiError::Unauthorized(err.to_string()).into_response()
}

/// What the request may read: everything when authentication is off.
#[derive(Debug, Clone)]
pub struct Access(Option<Arc<Grants>>);

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Arc<Grants>>().cloned()))
    }
}

impl Access {
    /// Whether `variant` may be read.
    pub fn allows(&self, variant: &str) -> bool {
        self.0.as_ref().is_none_or(|g| g.allows(variant))
    }

    /// `Ok` if `variant` may be read, else a 403.
    pub fn check(&self, variant: &str) -> Result<(), ApiError> {
        if self.allows(variant) {
            return Ok(());
        }
        tracing::info!(%variant, "REST request refused: variant not granted");
        Err(ApiError::Forbidden(format!(
            "the token does not grant variant '{variant}'"
        )))
    }
}
