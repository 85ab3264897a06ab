//! A started fake with a token of its first app, and calls to its API as a client makes them.
#![allow(dead_code)] // each test file uses part of it

use qrscene_fake_wechat::FakeWeChat;
use serde_json::Value;

pub const APPID: &str = "wx_fake_app";
pub const SECRET: &str = "fake-secret";

pub struct Api {
    pub fake: FakeWeChat,
    pub http: reqwest::Client,
    pub token: String,
}

impl Api {
    /// A fake with one app and a classic token of it.
    pub async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fake = FakeWeChat::start(APPID, SECRET).await.unwrap();
        let http = reqwest::Client::new();
        let token = Self::token_of(&fake, &http, APPID, SECRET).await;
        Self { fake, http, token }
    }

    pub async fn token_of(
        fake: &FakeWeChat,
        http: &reqwest::Client,
        appid: &str,
        secret: &str,
    ) -> String {
        let answer: Value = http
            .get(format!("{}/cgi-bin/token", fake.base_url()))
            .query(&[
                ("grant_type", "client_credential"),
                ("appid", appid),
                ("secret", secret),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    }

    /// POSTs `body` (raw) to `path` with `token`.
    pub async fn post_raw_with(&self, token: &str, path: &str, body: &str) -> Value {
        self.http
            .post(format!("{}{path}", self.fake.base_url()))
            .query(&[("access_token", token)])
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.post_raw_with(&self.token, path, &body.to_string())
            .await
    }

    pub async fn post_with(&self, token: &str, path: &str, body: Value) -> Value {
        self.post_raw_with(token, path, &body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.fake.base_url()))
            .query(&[("access_token", self.token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The errcode of an answer; 0 when it has none (a success answer of data).
pub fn errcode(answer: &Value) -> i64 {
    answer["errcode"].as_i64().unwrap_or(0)
}

pub fn openids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}
