//! Query-string parsing with errors that name the parameter. Used instead of axum's `Query`
//! extractor so malformed input gets our JSON error shape, never a plain-text rejection.

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path, rejection::PathRejection},
    http::request::Parts,
};
use chrono::{DateTime, Utc};
use utoipa::openapi::{
    KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type, schema::AnyOfBuilder,
};

use super::error::ApiError;
use crate::domain::{Variant, parse_time};

/// Optional `start` and `end`.
pub type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The OpenAPI schema of a `start`/`end` bound: the forms [`parse_time`] accepts.
#[derive(Debug)]
pub struct TimeBound;

impl utoipa::PartialSchema for TimeBound {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let format = |f| string().format(Some(SchemaFormat::KnownFormat(f)));
        AnyOfBuilder::new()
            .item(format(KnownFormat::DateTime))
            .item(
                string()
                    .pattern(Some(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?$"))
                    .description(Some("naive, read as UTC")),
            )
            .item(format(KnownFormat::Date))
            .description(Some(
                "RFC 3339 with an offset (encode `+` as `%2B`), a naive \
                 `YYYY-MM-DDTHH:MM:SS[.f]` or `YYYY-MM-DD HH:MM:SS[.f]` read as UTC, or a bare date \
                 read as midnight UTC; between the years 1000 and 9999 (UTC), otherwise a 400",
            ))
            .examples(["2024-05-01T09:30:00Z", "2024-05-01"])
            .into()
    }
}

impl utoipa::ToSchema for TimeBound {}

/// The decoded query string; a repeated key keeps its last value.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::invalid("query", format!("malformed query string: {e}")))?;
        Ok(Self(pairs.into_iter().collect()))
    }
}

impl Params {
    /// Rejects any parameter not in `allowed` (a misspelt filter must not silently return
    /// unfiltered data), naming it and listing the valid ones.
    pub fn allow(self, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut unknown: Vec<&String> = self
            .0
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            let valid = if allowed.is_empty() {
                "this route takes no query parameters".to_owned()
            } else {
                format!("valid parameters are {}", allowed.join(", "))
            };
            return Err(ApiError::UnknownParameter(format!(
                "unknown query parameter '{name}'; {valid}"
            )));
        }
        Ok(self)
    }

    /// The value of `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of `name` or a `missing_parameter` error.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::MissingParameter(name.to_owned()))
    }

    /// An optional RFC 3339 time.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(name)
            .map(|v| parse_time(v).map_err(|m| ApiError::invalid(name, m)))
            .transpose()
    }

    /// An optional non-negative integer.
    pub fn non_negative(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| match v.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("'{v}' is not a non-negative integer"),
                )),
            })
            .transpose()
    }

    /// An integer in `1..=max`, `default` when absent.
    pub fn limit(&self, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("'{v}' is out of range; expected an integer from 1 to {max}"),
                )),
            },
        }
    }

    /// Checks `start <= end` when both are given.
    pub fn range(&self) -> Result<TimeRange, ApiError> {
        let (start, end) = (self.time("start")?, self.time("end")?);
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(ApiError::invalid("end", "end is before start"));
        }
        Ok((start, end))
    }
}

/// Extracts and validates the `{variant}` path segment.
pub fn variant_path(path: Result<Path<String>, PathRejection>) -> Result<Variant, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::invalid("variant", e.body_text()))?;
    Variant::parse(&raw).map_err(|e| ApiError::invalid("variant", e.0))
}
