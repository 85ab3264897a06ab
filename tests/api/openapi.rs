//! The OpenAPI document at /openapi.json lists exactly the routes the app mounts (read from
//! actix's route table, not from a list kept here), each of them answers, and the Swagger
//! UI page at /docs/ loads nothing from outside the server.

use std::collections::BTreeSet;
use std::sync::Mutex;

use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, test as actix_test};
use qrscene::routes::{self, Modes};
use serde_json::{Value, json};

use crate::helpers::{KEY, Options, spawn_app, spawn_with};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The route table the server mounts for `modes` (`routes::mount`, the function `startup`
/// calls), read from actix's own resource map, and the document that table serves. Each
/// resource is (full path pattern, name).
async fn route_table(modes: Modes) -> (Vec<(String, Option<String>)>, Value) {
    static MAP: Mutex<Option<String>> = Mutex::new(None);
    async fn capture(
        req: ServiceRequest,
        next: Next<impl actix_web::body::MessageBody>,
    ) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
        *MAP.lock().unwrap() = Some(format!("{:#?}", req.resource_map()));
        next.call(req).await
    }
    let app =
        actix_test::init_service(routes::mount(App::new().wrap(from_fn(capture)), modes)).await;
    let request = actix_test::TestRequest::get()
        .uri("/openapi.json")
        .to_request();
    let doc: Value = actix_test::call_and_read_body_json(&app, request).await;
    let map = MAP
        .lock()
        .unwrap()
        .take()
        .expect("the middleware saw the request");
    (leaf_patterns(&map), doc)
}

/// The leaves of a `{:#?}` of actix's `ResourceMap`: each resource's pattern joined to its
/// scopes' prefixes, with its name. actix has no public iterator over the map; its Debug
/// output is the map itself, field by field (a change of that format fails loudly here).
fn leaf_patterns(debug: &str) -> Vec<(String, Option<String>)> {
    struct Node {
        indent: usize,
        pattern: Option<String>,
        name: Option<String>,
    }
    let quoted = |line: &str| -> String {
        serde_json::from_str(line.trim().trim_end_matches(',')).expect("a quoted string")
    };
    let mut stack: Vec<Node> = Vec::new();
    let mut leaves = Vec::new();
    let mut lines = debug.lines();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        match line.trim() {
            // The named index repeats resources of the tree: skip it.
            "named: {" => {
                for inner in lines.by_ref() {
                    if inner.len() - inner.trim_start().len() == indent {
                        break;
                    }
                }
            }
            "ResourceMap {" => {
                stack.retain(|n| n.indent < indent);
                stack.push(Node {
                    indent,
                    pattern: None,
                    name: None,
                });
            }
            "patterns: Single(" => {
                let node = stack.last_mut().expect("a map node");
                if node.pattern.is_none() {
                    node.pattern = Some(quoted(lines.next().expect("pattern")));
                }
            }
            "patterns: List(" => panic!("a resource with several patterns: teach this test"),
            "name: Some(" => {
                let node = stack.last_mut().expect("a map node");
                if node.name.is_none() {
                    node.name = Some(quoted(lines.next().expect("name")));
                }
            }
            "nodes: None," => {
                let full: String = stack.iter().filter_map(|n| n.pattern.as_deref()).collect();
                let name = stack.last().and_then(|n| n.name.clone());
                leaves.push((full, name));
            }
            _ => {}
        }
    }
    assert!(leaves.len() > 10, "the resource map was read: {debug}");
    assert!(leaves.iter().all(|(p, _)| p.starts_with('/')), "{leaves:?}");
    leaves
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
            "appid" => "wx0penapitest0000",
            "did" => "424243",
            "activity_id" => "MT1950",
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
            // The body deadline answers any request with a body, before its handler.
            if op.get("requestBody").is_some() {
                assert!(
                    op["responses"].get("408").is_some(),
                    "{method} {path} takes a body but does not document the 408"
                );
            }
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

/// Every resource of the route table is documented (its pattern matches a documented path),
/// every documented path is a resource of the table, and on a documented path the methods
/// the document does not list are not routed.
async fn the_document_is_the_route_table(
    http: &reqwest::Client,
    address: &str,
    served: &Value,
    modes: Modes,
) {
    let (table, doc) = route_table(modes).await;
    assert_eq!(
        documented(&doc),
        documented(served),
        "the running app serves the document of this route table"
    );
    let resources: Vec<&String> = table.iter().map(|(pattern, _)| pattern).collect();
    let paths: BTreeSet<String> = documented(&doc).into_iter().map(|(_, p)| p).collect();
    for pattern in &resources {
        let def = ResourceDef::new(pattern.as_str());
        assert!(
            paths.iter().any(|p| def.is_match(&concrete(p))),
            "{pattern:?} is mounted but not in the document ({paths:?})"
        );
    }
    for path in &paths {
        let url = concrete(path);
        assert!(
            resources
                .iter()
                .any(|p| ResourceDef::new(p.as_str()).is_match(&url)),
            "{path} is documented but no resource of the table matches it"
        );
        for method in METHODS {
            if doc["paths"][path].get(*method).is_some() {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = http
                .request(method.clone(), format!("{address}{url}"))
                .bearer_auth(KEY)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            let head_of_unrouted = method == reqwest::Method::HEAD && status == 404;
            let unrouted = status == 405 || (status == 404 && body.contains("no route for"));
            assert!(
                unrouted || head_of_unrouted,
                "{method} {path} is routed but not documented: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn the_document_lists_every_mounted_route() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app.http, &app.address).await;
    check_document(&doc);
    assert!(doc["paths"].get("/sandbox/scan").is_none());
    every_operation_is_routed(&app.http, &app.address, &doc).await;
    the_document_is_the_route_table(&app.http, &app.address, &doc, Modes::default()).await;
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
    assert!(doc["paths"]["/sandbox/scan"]["post"].is_object());
    every_operation_is_routed(&app.http, &app.address, &doc).await;
    let modes = Modes {
        sandbox: true,
        bench: false,
    };
    the_document_is_the_route_table(&app.http, &app.address, &doc, modes).await;
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
        database_url: database.url.clone().into(),
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
    assert!(doc["paths"]["/wechat/ceiling"]["post"].is_object());
    every_operation_is_routed(&http, &address, &doc).await;
    let modes = Modes {
        sandbox: true,
        bench: true,
    };
    the_document_is_the_route_table(&http, &address, &doc, modes).await;
}

#[tokio::test]
async fn the_image_format_is_an_enum() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app.http, &app.address).await;
    let params = &doc["paths"]["/api/v1/qrcodes/{id}/image.{format}"]["get"]["parameters"];
    let format = params
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "format")
        .expect("format parameter");
    assert_eq!(format["schema"]["enum"], json!(["png", "svg"]), "{format}");
    // Anything else is the documented 404.
    let response = app.get("/api/v1/qrcodes/1/image.gif").await;
    assert_eq!(response.status(), 404);
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

#[tokio::test]
async fn every_operation_that_takes_an_account_documents_its_refusals() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app.http, &app.address).await;
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let in_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "account"));
            let body_ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_owned);
            let in_body = body_ref.is_some_and(|name| {
                doc["components"]["schemas"][&name]["properties"]
                    .get("account")
                    .is_some()
            });
            if !(in_query || in_body) {
                continue;
            }
            seen += 1;
            for status in ["400", "403", "404"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} takes an account but does not document {status}"
                );
            }
        }
    }
    // Creating and listing codes and bindings, stats, followers, the legacy endpoint, ...
    assert!(seen >= 10, "{seen} operations take an account");
}
