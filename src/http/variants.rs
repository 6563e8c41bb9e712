//! `GET /api/variants`: every variant the caller may read, with its instances and latest
//! update.

use axum::{Json, extract::State};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, auth::Access, error::ErrorBody, params::Params, sorted_json};
use crate::domain::VariantSummary;

/// The body of `GET /api/variants`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantList {
    /// Every variant with a snapshot or an event counter that the token grants, by name.
    pub variants: Vec<VariantSummary>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_variants))
}

/// List the variants
///
/// Every variant that has a snapshot or an event counter, with its instances and its latest
/// `updated_at` (`null` if it only has events), read from the database. With authentication
/// on, only the variants the token grants.
#[utoipa::path(
    get,
    path = "/variants",
    tag = "rest",
    responses(
        (status = 200, description = "The variants", body = VariantList),
        (status = 400, description = "`unknown_parameter`: this route takes no query parameters", body = ErrorBody),
    )
)]
async fn list_variants(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.allow(&[])?;
    let mut variants = state.store.variants().await?;
    variants.retain(|v| access.allows(&v.variant));
    sorted_json(&VariantList { variants })
}
