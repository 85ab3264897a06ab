//! Many accounts in one deployment: the admin API, API keys with roles and scopes, secrets
//! sealed at rest, and one account's data never visible under another.

use qrscene::config::Settings;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::*;

/// A master key for the tests (32 bytes in base64).
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Account B's secret, token and EncodingAESKey: they must never show in clear.
pub const B_SECRET: &str = "b-secret-NEVER-IN-CLEAR-0001";
pub const B_TOKEN: &str = "b-callback-token-NEVER-IN-CLEAR";
pub const B_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn with_master_key(settings: &mut Settings) {
    settings.master_key = Some(MASTER_KEY.into());
}

pub fn sealed() -> Options {
    Options {
        tweak: with_master_key,
        ..Options::default()
    }
}

impl TestApp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Adds account `appid` (known to the fake with [`B_SECRET`]) through the admin API.
    pub async fn add_account(&self, appid: &str) -> Value {
        self.fake.add_app(appid, B_SECRET);
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/accounts",
                KEY,
                Some(json!({
                    "appid": appid, "name": "Account B", "secret": B_SECRET,
                    "callback_token": B_TOKEN, "encoding_aes_key": B_AES_KEY,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Creates a key through the admin API; answers the key.
    pub async fn add_key(&self, body: Value) -> String {
        let (status, created) = self
            .send(reqwest::Method::POST, "/api/v1/keys", KEY, Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
        created["key"].as_str().expect("the key").to_owned()
    }
}

fn no_secret_in(text: &str) {
    for secret in [B_SECRET, B_TOKEN, B_AES_KEY, SECRET, CALLBACK_TOKEN] {
        assert!(!text.contains(secret), "a secret shows in: {text}");
    }
}

#[tokio::test]
async fn accounts_are_added_listed_changed_and_disabled_without_ever_showing_a_secret() {
    let app = spawn_with(sealed()).await;
    let b = new_appid();
    let created = app.add_account(&b).await;
    no_secret_in(&created.to_string());
    assert_eq!(created["source"], "db");
    assert_eq!(
        created["secrets"],
        json!({"secret": true, "callback_token": true, "aes_key": true, "aes_key_previous": false})
    );
    assert_eq!(created["callback_path"], format!("/wechat/callback/{b}"));
    assert_eq!(
        app.fake.token_fetches_of(&b),
        1,
        "the credentials were checked once"
    );

    let (status, list) = app
        .send(reqwest::Method::GET, "/api/v1/accounts", KEY, None)
        .await;
    assert_eq!(status, 200);
    no_secret_in(&list.to_string());
    let appids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap())
        .collect();
    assert_eq!(appids, [app.fake.appid().as_str(), b.as_str()]);
    assert_eq!(list["items"][0]["source"], "env");

    let (status, again) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            KEY,
            Some(json!({"appid": b, "verify": false})),
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("conflict")),
        "{again}"
    );

    let path = format!("/api/v1/accounts/{b}");
    let (status, changed) = app
        .send(
            reqwest::Method::PATCH,
            &path,
            KEY,
            Some(json!({"name": "Region B", "require_encryption": true})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["name"].as_str(),
            changed["require_encryption"].as_bool()
        ),
        (Some("Region B"), Some(true))
    );

    let (status, disabled) = app.send(reqwest::Method::DELETE, &path, KEY, None).await;
    assert_eq!(
        (status, disabled["enabled"].as_bool()),
        (200, Some(false)),
        "{disabled}"
    );
    let (status, body) = app.create(json!({"kind": "temporary", "account": b})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/accounts/{}", app.fake.appid()),
            KEY,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "the environment's account: {body}"
    );

    // At rest: the sealed values only.
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT appid, name, secret, callback_token, aes_key, aes_key_previous FROM account",
        ))
        .await
        .unwrap();
    let mut dump = String::new();
    for row in rows {
        for column in [
            "appid",
            "secret",
            "callback_token",
            "aes_key",
            "aes_key_previous",
        ] {
            let value: Option<String> = row.try_get("", column).unwrap();
            dump.push_str(&format!("{column}={value:?}\n"));
        }
    }
    assert!(dump.contains("secret=Some(\"v1:"), "{dump}");
    no_secret_in(&dump);
    if app.db.get_database_backend() == DbBackend::Sqlite {
        let file = app
            ._database
            .url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let mut bytes = std::fs::read(&file).unwrap_or_default();
        if let Ok(wal) = std::fs::read(format!("{file}-wal")) {
            bytes.extend(wal);
        }
        assert!(!bytes.is_empty());
        no_secret_in(&String::from_utf8_lossy(&bytes));
    }
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_wechats_errcode_unless_not_verified() {
    let app = spawn_with(sealed()).await;
    let known = new_appid();
    app.fake.add_app(&known, B_SECRET);
    let cases = [
        (new_appid(), B_SECRET, 40013),
        (known.clone(), "a-wrong-secret", 40125),
    ];
    for (appid, secret, errcode) in cases {
        let (status, body) = app
            .send(
                reqwest::Method::POST,
                "/api/v1/accounts",
                KEY,
                Some(json!({"appid": appid, "secret": secret})),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            (body["code"].as_str(), body["errcode"].as_i64()),
            (Some("wechat_credentials"), Some(errcode)),
            "{body}"
        );
        assert!(!body.to_string().contains(secret));
    }
    app.fake.set_ip_whitelisted(&known, false);
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            KEY,
            Some(json!({"appid": known, "secret": B_SECRET})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_i64()),
        (400, Some(40164)),
        "{body}"
    );
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            KEY,
            Some(json!({"appid": known, "secret": B_SECRET, "verify": false})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            KEY,
            Some(json!({"appid": "wx/../x", "verify": false})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_request")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().starts_with("appid:"),
        "{body}"
    );
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            KEY,
            Some(json!({"appid": new_appid(), "encoding_aes_key": "short", "verify": false})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("encoding_aes_key:"),
        "{body}"
    );
}

#[tokio::test]
async fn without_a_master_key_no_secret_is_stored_and_the_answer_says_why() {
    let app = spawn_app().await;
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            KEY,
            Some(json!({"appid": new_appid(), "secret": B_SECRET, "verify": false})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("QRSCENE_MASTER_KEY"),
        "{body}"
    );
    let count = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM account",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(count, 1, "only the environment's account");
}

#[tokio::test]
async fn a_key_of_one_account_gets_403_naming_another_and_404_for_its_rows() {
    let app = spawn_with(sealed()).await;
    let a = app.fake.appid();
    let b = new_appid();
    app.add_account(&b).await;
    // Admin keys may use both: leaving the account out is ambiguous.
    let (status, body) = app.create(json!({"kind": "temporary"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("account_required")),
        "{body}"
    );
    let (status, code_a) = app
        .create(json!({"kind": "temporary", "account": a, "scene_str": "same"}))
        .await;
    assert_eq!(status, 201, "{code_a}");
    let (status, code_b) = app
        .create(json!({"kind": "temporary", "account": b, "scene_str": "same"}))
        .await;
    assert_eq!(
        status, 201,
        "the same scene under another account is another code: {code_b}"
    );

    let only_a = app
        .add_key(json!({"name": "crm-a", "role": "client", "accounts": [a]}))
        .await;
    let get = |path: String| {
        let app = &app;
        let key = only_a.clone();
        async move { app.send(reqwest::Method::GET, &path, &key, None).await }
    };
    // Its one account is implied.
    let (status, listing) = get("/api/v1/qrcodes".into()).await;
    assert_eq!(status, 200, "{listing}");
    let ids: Vec<i64> = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [code_a["id"].as_i64().unwrap()]);
    let id_b = code_b["id"].as_i64().unwrap();
    for path in [
        format!("/api/v1/qrcodes/{id_b}"),
        format!("/api/v1/qrcodes/{id_b}/image.png"),
        format!("/api/v1/qrcodes/{id_b}/events"),
        format!("/api/v1/qrcodes/{id_b}/wait?timeout=1"),
        format!("/api/v1/accounts/{b}"),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {body}"
        );
    }
    let (status, body) = get(format!("/api/v1/qrcodes?account={b}")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains(&b), "{body}");
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/qrcodes",
            &only_a,
            Some(json!({"kind": "temporary", "account": b})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = get(format!(
        "/api/v1/stats?account={b}&group_by=day&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"
    ))
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get("/api/v1/qrcodes?account=wxnosuchaccount0".into()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    // It lists only its account, and may not use the admin API.
    let (status, accounts) = get("/api/v1/accounts".into()).await;
    assert_eq!(
        (status, accounts["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{accounts}"
    );
    let (status, body) = get("/api/v1/keys".into()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            &only_a,
            Some(json!({"appid": new_appid(), "verify": false})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Bindings follow the same rule.
    let (status, binding) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/bindings",
            KEY,
            Some(json!({"account": b, "external_user_id": "u1"})),
        )
        .await;
    assert_eq!(status, 201, "{binding}");
    let (status, body) = get(format!("/api/v1/bindings/{}", binding["id"])).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get("/api/v1/bindings?external_user_id=u1".into()).await;
    assert_eq!(
        (status, body["history"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
}

#[tokio::test]
async fn keys_are_stored_hashed_shown_once_and_revocable() {
    let app = spawn_with(sealed()).await;
    let key = app.add_key(json!({"name": "ops", "role": "admin"})).await;
    assert!(key.starts_with("qsk_") && key.len() >= 40, "{key}");
    let (status, _) = app
        .send(reqwest::Method::GET, "/api/v1/keys", &key, None)
        .await;
    assert_eq!(status, 200, "the new admin key works at once");
    let (_, list) = app
        .send(reqwest::Method::GET, "/api/v1/keys", KEY, None)
        .await;
    assert!(!list.to_string().contains(&key), "{list}");
    let id = list["items"][0]["id"].as_i64().unwrap();
    let stored = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT key_hash FROM api_key WHERE id = {id}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "key_hash")
        .unwrap();
    assert_eq!(stored.len(), 64);
    assert!(!stored.contains(&key));
    let (status, revoked) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/keys/{id}"),
            KEY,
            None,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = app
        .send(reqwest::Method::GET, "/api/v1/keys", &key, None)
        .await;
    assert_eq!(status, 401, "a revoked key is refused");
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/keys",
            KEY,
            Some(json!({"name": "x", "role": "client", "accounts": ["wxnosuch"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/keys",
            KEY,
            Some(json!({"name": "x", "role": "root"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

/// The schema of the previous release: the migrations before accounts.
const PREVIOUS_MIGRATIONS: u32 = 5;

#[tokio::test]
async fn a_database_of_the_previous_release_keeps_every_row_under_the_environments_account() {
    use migration::MigratorTrait;
    let database = std::sync::Arc::new(TestDb::new().await);
    let db = database.connect().await;
    migration::Migrator::up(&db, Some(PREVIOUS_MIGRATIONS))
        .await
        .unwrap();
    let now = "2026-11-30T00:00:00+00:00";
    for sql in [
        format!(
            "INSERT INTO qr_generation (id, kind, action_name, scene, ticket, url, status, created_at, activity_id) VALUES (7, 'temporary', 'QR_STR_SCENE', 'old', 'T-old', 'http://weixin.qq.com/q/old', 'succeeded', '{now}', 'A1')"
        ),
        format!(
            "INSERT INTO qr_generation (id, kind, action_name, scene, ticket, url, status, created_at) VALUES (8, 'permanent', 'QR_LIMIT_STR_SCENE', 'perm', 'T-perm', 'http://weixin.qq.com/q/perm', 'succeeded', '{now}')"
        ),
        format!(
            "INSERT INTO wechat_event (id, dedup_key, account, openid, msg_type, event, kind, event_key, scene, ticket, create_time, occurred_at, received_at, generation_id, xml) VALUES (3, 'e:old', 'gh_old', 'oOld', 'event', 'SCAN', 'scan', 'old', 'old', 'T-old', 1764460800, '{now}', '{now}', 7, '<xml/>')"
        ),
        format!(
            "INSERT INTO wechat_follower (openid, account, subscribed, first_followed_at, first_generation_id, subscribed_at, last_event_id, last_event_kind, last_event_at) VALUES ('oOld', 'gh_old', true, '{now}', 7, '{now}', 3, 'scan', '{now}')"
        ),
        format!(
            "INSERT INTO account_binding (id, external_user_id, generation_id, created_at, expires_at) VALUES (5, 'crm-old', 7, '{now}', '{now}')"
        ),
    ] {
        db.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let appid = new_appid();
    let fake = std::sync::Arc::new(
        qrscene_fake_wechat::FakeWeChat::start(&appid, SECRET)
            .await
            .unwrap(),
    );
    let app = spawn_instance(&Options::default(), database, fake, &appid).await;
    let (status, code) = app
        .send(reqwest::Method::GET, "/api/v1/qrcodes/7", KEY, None)
        .await;
    assert_eq!(
        (status, code["scene_str"].as_str()),
        (200, Some("old")),
        "{code}"
    );
    let (status, events) = app
        .send(reqwest::Method::GET, "/api/v1/qrcodes/7/events", KEY, None)
        .await;
    assert_eq!(
        (status, events["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{events}"
    );
    let (status, follower) = app
        .send(reqwest::Method::GET, "/api/v1/followers/oOld", KEY, None)
        .await;
    assert_eq!(
        (status, follower["subscribed"].as_bool()),
        (200, Some(true)),
        "{follower}"
    );
    let (status, binding) = app
        .send(reqwest::Method::GET, "/api/v1/bindings/5", KEY, None)
        .await;
    assert_eq!(
        (status, binding["status"].as_str()),
        (200, Some("bound")),
        "{binding}"
    );
    // The stored permanent code is still found for its scene, under the account.
    let (status, again) = app
        .create(json!({"kind": "permanent", "scene_str": "perm"}))
        .await;
    assert_eq!((status, again["id"].as_i64()), (200, Some(8)), "{again}");
    let (_, accounts) = app
        .send(reqwest::Method::GET, "/api/v1/accounts", KEY, None)
        .await;
    assert_eq!(
        accounts["items"].as_array().map(Vec::len),
        Some(1),
        "{accounts}"
    );
    assert_eq!(accounts["items"][0]["appid"], appid.as_str());
    let events = app.events().await;
    assert_eq!(
        (
            events.len(),
            events[0].account_id,
            events[0].dedup_key.as_str()
        ),
        (1, 1, "1:e:old")
    );
}

/// Three instances over one database, Redis and fake WeChat, with the master key.
async fn three_instances(redis: String) -> Vec<TestApp> {
    let database = std::sync::Arc::new(TestDb::new().await);
    let appid = new_appid();
    let fake = std::sync::Arc::new(
        qrscene_fake_wechat::FakeWeChat::start(&appid, SECRET)
            .await
            .unwrap(),
    );
    let options = Options {
        redis: Some(redis),
        ..sealed()
    };
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(spawn_instance(&options, database.clone(), fake.clone(), &appid).await);
    }
    apps
}

#[tokio::test]
async fn three_instances_serve_two_accounts_tokens_with_one_fetch_per_account() {
    let Some(redis) = redis_url() else { return };
    let apps = three_instances(redis).await;
    let a = apps[0].fake.appid();
    let b = new_appid();
    apps[0].add_account(&b).await;
    let reader = apps[0]
        .add_key(
            json!({"name": "erp", "role": "client", "accounts": [b], "permissions": ["token"]}),
        )
        .await;
    let no_token = apps[0]
        .add_key(json!({"name": "crm", "role": "client", "accounts": [b]}))
        .await;
    let fake = &apps[0].fake;
    fake.expire_tokens();
    let before = [fake.token_fetches_of(&a), fake.token_fetches_of(&b)];

    // 100 concurrent reads per account right after expiry, spread over the instances.
    let mut reads = Vec::new();
    for i in 0..200 {
        let app = &apps[i % 3];
        let (appid, key) = if i % 2 == 0 {
            (a.clone(), KEY.to_owned())
        } else {
            (b.clone(), reader.clone())
        };
        reads.push(async move {
            app.send(
                reqwest::Method::GET,
                &format!("/api/v1/accounts/{appid}/access_token"),
                &key,
                None,
            )
            .await
        });
    }
    let answers = futures_util::future::join_all(reads).await;
    let mut tokens = std::collections::HashMap::<String, std::collections::HashSet<String>>::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        assert!(
            body["expires_at"].is_string() && body["fetched_at"].is_string(),
            "{body}"
        );
        let appid = if i % 2 == 0 { &a } else { &b };
        tokens
            .entry(appid.clone())
            .or_default()
            .insert(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        [
            fake.token_fetches_of(&a) - before[0],
            fake.token_fetches_of(&b) - before[1]
        ],
        [1, 1],
        "one fetch per account for 100 reads each over three instances"
    );
    assert_eq!(
        (tokens[&a].len(), tokens[&b].len()),
        (1, 1),
        "every instance serves the same token"
    );
    let stale_b = tokens[&b].iter().next().unwrap().clone();
    assert_ne!(tokens[&a], tokens[&b]);

    // 50 concurrent reports of the same stale token of B: one forced refresh.
    let before = fake.token_fetches_of(&b);
    let mut reports = Vec::new();
    for i in 0..50 {
        let app = &apps[i % 3];
        let (b, key, stale) = (b.clone(), reader.clone(), stale_b.clone());
        reports.push(async move {
            app.send(
                reqwest::Method::POST,
                &format!("/api/v1/accounts/{b}/access_token/invalidate"),
                &key,
                Some(json!({"access_token": stale})),
            )
            .await
        });
    }
    let answers = futures_util::future::join_all(reports).await;
    let fresh: std::collections::HashSet<&str> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            assert_ne!(
                body["access_token"].as_str(),
                Some(stale_b.as_str()),
                "{body}"
            );
            body["access_token"].as_str().unwrap()
        })
        .collect();
    assert_eq!(fresh.len(), 1, "every report gets the one fresh token");
    assert_eq!(
        fake.token_fetches_of(&b) - before,
        1,
        "one fetch for 50 reports"
    );
    let outcomes: std::collections::HashSet<&str> = answers
        .iter()
        .map(|(_, body)| body["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains("refreshed"), "{outcomes:?}");

    // Who may read: the token permission for that account, or an admin key.
    let path_a = format!("/api/v1/accounts/{a}/access_token");
    let (status, body) = apps[1]
        .send(reqwest::Method::GET, &path_a, &reader, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "another account: {body}"
    );
    let path_b = format!("/api/v1/accounts/{b}/access_token");
    let (status, body) = apps[2]
        .send(reqwest::Method::GET, &path_b, &no_token, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    no_secret_in(&body.to_string());
    let metrics = apps[0].get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("qrscene_tokens_served_total") && l.contains(&b)),
        "tokens served are counted per account"
    );
}

#[tokio::test]
async fn the_sandbox_account_has_no_token_to_serve() {
    let app = spawn_with(Options {
        live: false,
        ..Options::default()
    })
    .await;
    let (status, body) = app
        .send(
            reqwest::Method::GET,
            "/api/v1/accounts/wxsandbox/access_token",
            KEY,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
}

#[tokio::test]
async fn the_legacy_endpoint_takes_the_account_from_its_query_and_defaults_to_the_environments() {
    let app = spawn_with(sealed()).await;
    let b = new_appid();
    app.add_account(&b).await;
    let b_id = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT id FROM account WHERE appid = '{b}'"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "id")
        .unwrap();
    assert_ne!(b_id, 1);
    let body = json!({"sceneStr": "eyJhY3Rpdml0eV9pZCI6Ik1UMTk1MCJ9", "second": 600});
    for (query, account_id) in [(String::new(), 1), (format!("?account={b}"), b_id)] {
        let path = format!("/activity-wechat/api/wxWeChat/createQrCode{query}");
        let response = app.post(&path, &body).await;
        assert_eq!(response.status(), 200, "{path}");
        let log = app.log().await;
        assert_eq!(log.last().map(|g| g.account_id), Some(account_id), "{path}");
    }
    let response = app
        .post(
            "/activity-wechat/api/wxWeChat/createQrCode?account=wxnosuchaccount0",
            &body,
        )
        .await;
    assert_eq!(response.status(), 404);
}
