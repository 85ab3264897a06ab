//! The OpenAPI 3 document: its base (info, the API-key security scheme, tags, the error
//! body), the operations collected by `utoipa-actix-web` from the handlers actually mounted,
//! and where it is served: `/openapi.json`, and the Swagger UI page at `/docs/` (vendored in
//! the binary; nothing is loaded from a CDN, which users in mainland China often cannot
//! reach).

use actix_web::dev::{AppService, HttpServiceFactory};
use utoipa::openapi::path::{OperationBuilder, PathItem, Paths};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HttpMethod, RefOr, ResponseBuilder, schema::Schema};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::OpenApiFactory;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ErrorBody;

/// Where the document is served.
pub const JSON_PATH: &str = "/openapi.json";
/// Where the Swagger UI page is served.
pub const DOCS_PATH: &str = "/docs/";
/// Name of the bearer API key scheme in `components.securitySchemes`.
pub const API_KEY: &str = "api_key";

/// The base of the document; the operations are added as the routes are mounted.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "qrscene",
        description = "Parametric WeChat QR codes, their scans, and the attribution between them.\n\n\
            The JSON API (`/api/v1/*`) and the legacy endpoint take `Authorization: Bearer <key>`, \
            one of `QRSCENE_API_KEYS` (admin keys) or a key made with `POST /api/v1/keys` (admin \
            or client, for some accounts or all, maybe with the `token` permission); in sandbox \
            mode without keys the API is open. A request names its official account with \
            `account` (an appid) in the JSON body or the query string, and may leave it out when \
            its key (or the deployment) has exactly one: 400 `account_required` otherwise, 403 \
            `forbidden` for an account the key may not use, 404 `not_found` for an unknown one. A \
            row of another account (a code, a binding) is a 404, never a 403. Errors are \
            `ErrorBody`: `{\"code\", \"message\"}` plus `field` for a broken rule, `errcode` and \
            `generation_id` for WeChat failures. Any route may also answer 500 `internal` when \
            the database fails, and 400 `invalid_field` naming a query parameter that holds \
            the NUL character (which the database cannot store). An unknown route is a 404 `not_found` \
            (`no route for METHOD PATH`).\n\n\
            The document lists the routes this instance mounts: `/sandbox/scan` appears only in \
            sandbox mode and `/wechat/ceiling` only in bench mode."
    ),
    modifiers(&BearerKey),
    components(schemas(ErrorBody)),
    tags(
        (name = "qrcodes", description = "Generating QR codes through WeChat and reading the log"),
        (name = "scans", description = "Waiting for the first scan of a code"),
        (name = "bindings", description = "Account binding and scan-to-login"),
        (name = "attribution", description = "Events of a code, followers, statistics"),
        (name = "legacy", description = "The endpoint existing callers use"),
        (name = "accounts", description = "Official accounts served by this deployment (changing them needs an admin key), and their access tokens: the token service"),
        (name = "keys", description = "API keys (admin keys only)"),
        (name = "actions", description = "What codes do when scanned: tags, welcome messages (per code in `actions`, or per activity)"),
        (name = "jobs", description = "The outbox: taggings, kefu welcomes and webhook deliveries, carried out after the push is answered (admin keys only)"),
        (name = "webhooks", description = "Outbound webhooks of an account (Standard Webhooks signatures), their delivery log, test deliveries and replays"),
        (name = "callback", description = "WeChat's URL check and pushes (no API key: the signature is the proof)"),
        (name = "sandbox", description = "Sandbox mode only"),
        (name = "bench", description = "Bench mode only (`QRSCENE_BENCH_ROUTES=true`)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "dashboard", description = "The dashboard page and its assets (no API key: the page asks for one)"),
        (name = "docs", description = "This document and its page"),
    )
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "One of the keys of `QRSCENE_API_KEYS`, or a key made with `POST /api/v1/keys`",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(API_KEY, SecurityScheme::Http(scheme));
    }
}

/// The page at [`DOCS_PATH`] and the document at [`JSON_PATH`], which `api` gains the two
/// operations of.
pub fn docs_service(mut api: utoipa::openapi::OpenApi) -> SwaggerUi {
    api.paths.merge(own_paths());
    SwaggerUi::new(format!("{DOCS_PATH}{{_:.*}}"))
        .url(JSON_PATH, api)
        // Swagger UI's default validator is an online service: never call out.
        .config(Config::new([JSON_PATH]).validator_url("none"))
}

fn own_paths() -> Paths {
    let get = |id: &str, summary: &str, content_type: &str| {
        let ok = ResponseBuilder::new()
            .description(summary)
            .content(content_type, ContentBuilder::new().build())
            .build();
        PathItem::new(
            HttpMethod::Get,
            OperationBuilder::new()
                .operation_id(Some(id))
                .summary(Some(summary))
                .tag("docs")
                .response("200", ok)
                .build(),
        )
    };
    Paths::builder()
        .path(
            JSON_PATH,
            get("openapi_json", "This OpenAPI document", "application/json"),
        )
        .path(
            DOCS_PATH,
            get(
                "docs_page",
                "The Swagger UI page of this document",
                "text/html",
            ),
        )
        .build()
}

/// An actix service mounted exactly as built, described by `#[utoipa::path]` operations.
///
/// For resources the route macros cannot express: one that carries its own app data (the
/// callback's body limit) and answers 405 to the methods it does not serve.
pub struct Documented<S> {
    service: S,
    docs: Vec<Box<dyn OpenApiFactory>>,
}

impl<S: HttpServiceFactory> Documented<S> {
    /// `service`, not yet described.
    pub fn new(service: S) -> Self {
        Self {
            service,
            docs: Vec::new(),
        }
    }

    /// Adds the operation of `#[utoipa::path]` `doc` (its `__path_*` type).
    pub fn doc(mut self, doc: impl OpenApiFactory + 'static) -> Self {
        self.docs.push(Box::new(doc));
        self
    }
}

impl<S: HttpServiceFactory> HttpServiceFactory for Documented<S> {
    fn register(self, config: &mut AppService) {
        self.service.register(config);
    }
}

impl<S> OpenApiFactory for Documented<S> {
    fn paths(&self) -> Paths {
        let mut paths = Paths::new();
        for doc in &self.docs {
            paths.merge(doc.paths());
        }
        paths
    }

    fn schemas(&self, schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for doc in &self.docs {
            doc.schemas(schemas);
        }
    }
}

/// Adds the body deadline's answer (`408 request_timeout`, see
/// `middleware::body_deadline`) to every operation that takes a request body: the middleware
/// answers it before any handler runs, so no handler's own annotation can list it.
pub fn document_body_deadline(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let timeout = ResponseBuilder::new()
        .description(
            "`request_timeout`: the body did not arrive within `QRSCENE_BODY_TIMEOUT_MS` \
             (the connection is closed)",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_some() {
                operation
                    .responses
                    .responses
                    .entry("408".to_owned())
                    .or_insert_with(|| RefOr::T(timeout.clone()));
            }
        }
    }
}

/// Documents, on every operation that takes an `account` (a query parameter, or a field of
/// its JSON body), the answers of account resolution: 400 `account_required`, 403
/// `forbidden` and 404 `not_found` (added to the descriptions of those it documents already).
pub fn document_account_errors(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let body_has_account: Vec<String> = api
        .components
        .as_ref()
        .map(|c| {
            c.schemas
                .iter()
                .filter(|(_, schema)| {
                    matches!(schema, RefOr::T(utoipa::openapi::schema::Schema::Object(o))
                        if o.properties.contains_key("account"))
                })
                .map(|(name, _)| format!("#/components/schemas/{name}"))
                .collect()
        })
        .unwrap_or_default();
    let takes_account = |op: &utoipa::openapi::path::Operation| {
        let in_query = op
            .parameters
            .iter()
            .flatten()
            .any(|p| matches!(p, RefOr::T(p) if p.name == "account"));
        let in_body = matches!(&op.request_body, Some(RefOr::T(body)) if body.content.values().any(|content| {
            matches!(content, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r)) if body_has_account.contains(&r.ref_location)))
        }));
        in_query || in_body
    };
    let answers = [
        (
            "400",
            "`account_required`: the key may use several accounts and the request names none",
        ),
        ("403", "`forbidden`: the key may not use the account named"),
        (
            "404",
            "`not_found`: no enabled account has the appid named (or a row of an account the key may not use)",
        ),
    ];
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if !takes_account(operation) {
                continue;
            }
            for (status, text) in answers {
                match operation.responses.responses.get_mut(status) {
                    Some(RefOr::T(response)) => {
                        if !response
                            .description
                            .contains(text.split(':').next().unwrap_or(text))
                        {
                            response.description = format!("{}; {text}", response.description);
                        }
                    }
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        let response = ResponseBuilder::new()
                            .description(text)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build();
                        operation
                            .responses
                            .responses
                            .insert(status.to_owned(), RefOr::T(response));
                    }
                }
            }
        }
    }
}
