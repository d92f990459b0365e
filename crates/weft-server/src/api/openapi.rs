//! The OpenAPI document of the API, generated from the handlers' annotations and the
//! request types (utoipa), served at `/v1/openapi.json`.

use super::error::{ErrorBody, ErrorDetail};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The bearer key scheme.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A key made with `weft keys create --tenant NAME`; every request acts for its tenant.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "Agent workflows as a daemon: sessions, runs and their event streams, scoped to the caller's tenant."
    ),
    paths(
        super::workflows::list,
        super::runs::start,
        super::runs::list,
        super::runs::get,
        super::runs::cancel,
        super::runs::answer,
        super::runs::retry,
        super::runs::fork,
        super::upgrade::upgrade,
        super::events::run_events,
        super::sessions::create,
        super::sessions::list,
        super::sessions::get,
        super::sessions::delete,
        super::sessions::post_message,
        super::sessions::messages,
        super::session_events::session_events,
        super::health::alive,
        super::health::ready,
        super::health::metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerKeys),
    security(("key" = []))
)]
pub struct ApiDocument;

/// `GET /v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDocument::openapi())
}
