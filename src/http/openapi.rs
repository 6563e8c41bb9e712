//! The OpenAPI 3.1 document of the REST API and the health probes, served at
//! `GET /api/openapi.json` without a token and outside the rate limit (tools must be able to
//! read it; it holds no data).
//!
//! The paths come from the handlers' `#[utoipa::path]` attributes, collected by the same
//! `OpenApiRouter` registrations that build the axum routes ([`super::openapi_document`]); the
//! schemas come from `ToSchema` on the response types. [`finish`] adds what every `/api`
//! operation shares (the optional bearer security requirement, 401/429/503) and the request-size
//! errors of every route, so the handlers list only their own answers. `/metrics` (Prometheus
//! text), the dashboard's static files and Socket.IO are not part of it.

use std::sync::LazyLock;

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    OpenApi, ToSchema,
    openapi::{
        Components, ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder, Type,
        schema::ObjectBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    error::{ErrorBody, MAX_HEADER_BYTES, MAX_URI_BYTES},
    params::TimeBound,
};
use crate::{
    domain::{EventType, InstanceId, Interval, Variant, VtSymbol},
    store::TimeField,
};

/// Where the document is served (outside the authenticated `/api` nest).
pub const PATH: &str = "/api/openapi.json";
/// The name of the bearer security scheme in `components.securitySchemes`.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signalgate REST API",
        description = "First paint for dashboards: variants, their latest snapshots, event \
            ranges and OHLC bars (live changes come over Socket.IO, which this document does \
            not describe), plus the health probes. Every error is \
            `{\"error\":{\"code\",\"message\"}}`. Times are RFC 3339 in UTC with microseconds. \
            A query parameter a route does not take is a 400 `unknown_parameter`; an empty \
            value counts as absent and a repeated key keeps its last value. Authentication: \
            see the `bearer` security scheme. Reference: docs/rest.md."
    ),
    tags(
        (name = "rest", description = "The first-paint API under /api"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "meta", description = "This document"),
    ),
    // The parameters' schemas: `routes!` collects only those of the response bodies.
    components(schemas(
        ErrorBody, Variant, InstanceId, VtSymbol, Interval, EventType, TimeField, TimeBound
    ))
)]
struct ApiDoc;

/// The document before the routes are added: info, tags, shared schemas.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The route serving the document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document as served, serialised once.
static DOCUMENT: LazyLock<Result<Bytes, String>> = LazyLock::new(|| {
    serde_json::to_vec(&super::openapi_document())
        .map(Bytes::from)
        .map_err(|e| e.to_string())
});

/// This document
///
/// The OpenAPI 3.1 document of the REST API. It needs no token, even when authentication is
/// on, and is not rate limited.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json"))
)]
async fn openapi_json() -> Result<Response, ApiError> {
    match &*DOCUMENT {
        Ok(body) => {
            Ok(([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response())
        }
        Err(err) => Err(ApiError::Internal(anyhow::anyhow!(
            "cannot serialise the OpenAPI document: {err}"
        ))),
    }
}

/// A response every operation of a group shares, kept once under `components.responses`.
struct Shared {
    status: &'static str,
    name: &'static str,
    /// Only `/api` operations (authentication, rate limit, database) or every route (request
    /// size limits).
    api_only: bool,
    response: RefOr<utoipa::openapi::Response>,
}

/// An error response: `description`, an [`ErrorBody`], optionally one header.
fn error_response(
    description: &str,
    header: Option<(&str, Type, &str)>,
) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    if let Some((name, t, about)) = header {
        let header = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(t)))
            .description(Some(about))
            .build();
        response = response.header(name, header);
    }
    response.build().into()
}

fn shared_responses() -> [Shared; 5] {
    let kib = |bytes: usize| bytes / 1024;
    [
        Shared {
            status: "401",
            name: "Unauthorized",
            api_only: true,
            response: error_response(
                "`unauthorized`: authentication is on and the bearer token is missing, invalid \
                 or expired",
                Some(("WWW-Authenticate", Type::String, "Always `Bearer`")),
            ),
        },
        Shared {
            status: "429",
            name: "RateLimited",
            api_only: true,
            response: error_response(
                "`rate_limited`: more than `--rate-limit` requests per second from this address",
                Some((
                    "Retry-After",
                    Type::Integer,
                    "Seconds to wait before retrying",
                )),
            ),
        },
        Shared {
            status: "503",
            name: "DatabaseUnavailable",
            api_only: true,
            response: error_response(
                "`database_unavailable`: the database is not available, or the live state is \
                 not loaded yet",
                None,
            ),
        },
        Shared {
            status: "414",
            name: "UriTooLong",
            api_only: false,
            response: error_response(
                &format!(
                    "`uri_too_long`: the request URI is over {} KiB",
                    kib(MAX_URI_BYTES)
                ),
                None,
            ),
        },
        Shared {
            status: "431",
            name: "HeadersTooLarge",
            api_only: false,
            response: error_response(
                &format!(
                    "`headers_too_large`: the request headers are over {} KiB",
                    kib(MAX_HEADER_BYTES)
                ),
                None,
            ),
        },
    ]
}

fn bearer_scheme() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "`Authorization: Bearer <JWT>` (HS256 with `--jwt-secret`, RS256/ES256 with \
                 `--jwt-public-key`; claims `sub`, `exp`, `variants`). Required on every `/api` \
                 route except this document when the gateway runs with either flag; without \
                 them no token is needed, hence the empty alternative in each operation's \
                 `security`.",
            ))
            .build(),
    )
}

/// Adds the bearer scheme, the shared responses and the security requirements (see the module
/// documentation).
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let shared = shared_responses();
    let components = doc.components.get_or_insert_with(Components::new);
    components
        .security_schemes
        .insert(BEARER.to_owned(), RefOr::T(bearer_scheme()));
    for s in &shared {
        components
            .responses
            .insert(s.name.to_owned(), s.response.clone());
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(op) = item.get.as_mut() else {
            continue;
        };
        let in_api = path.starts_with("/api/") && path != PATH;
        if in_api {
            op.security = Some(vec![
                SecurityRequirement::new(BEARER, Vec::<String>::new()),
                SecurityRequirement::default(),
            ]);
        }
        for s in shared.iter().filter(|s| in_api || !s.api_only) {
            op.responses
                .responses
                .entry(s.status.to_owned())
                .or_insert_with(|| {
                    RefOr::Ref(Ref::new(format!("#/components/responses/{}", s.name)))
                });
        }
    }
    doc
}
