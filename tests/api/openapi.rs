//! The OpenAPI document at /openapi.json lists exactly the routes the app mounts, each of
//! them answers, and the Swagger UI page at /docs/ loads nothing from outside the server.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{KEY, Options, spawn_app, spawn_with};

/// Every route `routes::configure` and `startup` mount in every mode, as (method, path) in
/// OpenAPI form. Built from `.service(...)` in src/routes/mod.rs (with the paths of the
/// handlers' route macros, under their scope) and the document's own two routes mounted by
/// `openapi::docs_service` in src/startup.rs. This list is kept by hand: a route added to
/// the list or to the document but not to both fails `the_document_lists_every_mounted_route`,
/// and every documented route is requested to prove it is mounted; a route mounted outside
/// utoipa-actix-web and missing from this list is not caught.
const ALWAYS: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/qrcodes"),
    ("GET", "/api/v1/qrcodes"),
    ("GET", "/api/v1/qrcodes/{id}"),
    ("GET", "/api/v1/qrcodes/{id}/image.{format}"),
    ("GET", "/api/v1/qrcodes/{id}/events"),
    ("GET", "/api/v1/qrcodes/{id}/wait"),
    ("GET", "/api/v1/followers/{openid}"),
    ("GET", "/api/v1/stats"),
    ("POST", "/api/v1/bindings"),
    ("GET", "/api/v1/bindings"),
    ("GET", "/api/v1/bindings/{id}"),
    ("POST", "/activity-wechat/api/wxWeChat/createQrCode"),
    ("GET", "/wechat/callback"),
    ("POST", "/wechat/callback"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/app.js"),
    ("GET", "/dashboard/style.css"),
    ("GET", "/openapi.json"),
    ("GET", "/docs/"),
];
/// `routes::configure_sandbox`: sandbox mode only.
const SANDBOX: &[(&str, &str)] = &[("POST", "/sandbox/scan")];
/// `routes::configure_bench`: bench mode only (cargo feature `bench`).
#[cfg(feature = "bench")]
const BENCH: &[(&str, &str)] = &[("POST", "/wechat/ceiling")];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn expected(lists: &[&[(&str, &str)]]) -> BTreeSet<(String, String)> {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut pairs = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(*method).is_some() {
                pairs.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    pairs
}

/// `path` with an example value for each path parameter.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(&rest[..start]);
        out.push_str(match &rest[start + 1..end] {
            "id" => "424242",
            "openid" => "o-openapi-test",
            "format" => "png",
            other => panic!("give path parameter {other:?} an example value in this test"),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn fetch_doc(http: &reqwest::Client, address: &str) -> Value {
    let response = http
        .get(format!("{address}/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON document")
}

/// Every documented operation answers something other than the unknown-route 404 or a 405.
async fn every_operation_is_routed(http: &reqwest::Client, address: &str, doc: &Value) {
    for (method, path) in documented(doc) {
        let url = format!("{address}{}", concrete(&path));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = http.request(method.clone(), &url).bearer_auth(KEY);
        if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let unrouted = status == 404
            && serde_json::from_str::<Value>(&body).is_ok_and(|b| {
                b["code"] == "not_found"
                    && b["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no route for"))
            });
        assert!(
            !unrouted && status != 405,
            "{method} {path} is documented but not routed: {status} {body}"
        );
    }
}

fn check_document(doc: &Value) {
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    for field in ["code", "message", "field", "errcode", "generation_id"] {
        assert!(
            error["properties"].get(field).is_some(),
            "ErrorBody.{field}"
        );
    }
    assert_eq!(error["required"], json!(["code", "message"]));
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let secured = op["security"] == json!([{ "api_key": [] }]);
            let keyed = path.starts_with("/api/v1/")
                || path == "/metrics"
                || path.starts_with("/activity-wechat/")
                || path.starts_with("/sandbox/");
            assert_eq!(secured, keyed, "security of {method} {path}");
        }
    }
    check_refs(doc, doc);
}

/// Every `$ref` points at a schema of the document.
fn check_refs(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unexpected $ref {r}"));
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "dangling $ref {r}"
                );
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_lists_every_mounted_route() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app.http, &app.address).await;
    check_document(&doc);
    assert_eq!(documented(&doc), expected(&[ALWAYS]));
    every_operation_is_routed(&app.http, &app.address, &doc).await;
}

#[tokio::test]
async fn sandbox_mode_documents_its_scan_route() {
    let app = spawn_with(Options {
        live: false,
        ..Options::default()
    })
    .await;
    let doc = fetch_doc(&app.http, &app.address).await;
    check_document(&doc);
    assert_eq!(documented(&doc), expected(&[ALWAYS, SANDBOX]));
    every_operation_is_routed(&app.http, &app.address, &doc).await;
}

#[cfg(feature = "bench")]
#[tokio::test]
async fn bench_mode_documents_its_ceiling_route() {
    use crate::helpers::{CALLBACK_TOKEN, TestDb};
    use qrscene::config::Settings;
    use qrscene::startup::Application;
    use std::sync::Arc;

    // The helpers have no bench option: a sandbox app with bench routes, built here.
    let database = Arc::new(TestDb::new().await);
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: database.url.clone(),
        db_max_connections: 4,
        api_keys: Some(format!("tester:{KEY}").into()),
        wechat_token: Some(CALLBACK_TOKEN.into()),
        bench_routes: true,
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let doc = fetch_doc(&http, &address).await;
    check_document(&doc);
    assert_eq!(documented(&doc), expected(&[ALWAYS, SANDBOX, BENCH]));
    every_operation_is_routed(&http, &address, &doc).await;
}

/// The `http://` and `https://` URLs in `text`.
fn absolute_urls(text: &str) -> Vec<&str> {
    text.match_indices("http")
        .map(|(i, _)| &text[i..])
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
        .map(|s| s.split(['"', '\'', ' ', ')', '>']).next().unwrap_or(s))
        .collect()
}

#[tokio::test]
async fn the_docs_page_loads_nothing_from_outside() {
    let app = spawn_app().await;
    let page = app
        .http
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert_eq!(absolute_urls(&html), Vec::<&str>::new(), "{html}");

    // Everything the page loads is relative to /docs/ and served here.
    let mut assets = 0;
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let value = html[i + attr.len()..].split('"').next().unwrap();
            let path = value.trim_start_matches("./");
            let url = format!("{}/docs/{path}", app.address);
            let response = app.http.get(&url).send().await.expect("request");
            assert_eq!(response.status(), 200, "{url}");
            assets += 1;
        }
    }
    assert!(assets >= 3, "the page loads its script and style: {html}");

    // The configuration names our document and turns the online validator off.
    let init = app
        .http
        .get(format!("{}/docs/swagger-initializer.js", app.address))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .unwrap();
    assert!(init.contains("\"url\": \"/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert_eq!(absolute_urls(&init), Vec::<&str>::new(), "{init}");
}

#[tokio::test]
async fn docs_without_its_slash_redirects_to_the_page() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()["location"], "/docs/");
    let other = client
        .get(format!("{}/docsx", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 404);
}
