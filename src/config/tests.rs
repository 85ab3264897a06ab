use super::*;

#[test]
fn every_field_has_a_default_and_a_file_overrides_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let loaded = Settings::load(Some(&empty));
    assert!(loaded.is_ok(), "{loaded:?}");

    let file = dir.path().join("qrscene.toml");
    std::fs::write(
        &file,
        "stats_tz = \"Europe/Berlin\"\nstats_refresh_ms = 500\nbody_timeout_ms = 750\n",
    )
    .expect("write");
    let settings = Settings::load(Some(&file));
    if std::env::var_os("QRSCENE_STATS_TZ").is_none() {
        assert_eq!(
            settings.as_ref().map(|s| s.stats_tz.as_str()).ok(),
            Some("Europe/Berlin")
        );
    }
    if std::env::var_os("QRSCENE_STATS_REFRESH_MS").is_none() {
        assert_eq!(
            settings.as_ref().map(|s| s.stats_refresh_ms).ok(),
            Some(500)
        );
    }
    if std::env::var_os("QRSCENE_BODY_TIMEOUT_MS").is_none() {
        assert_eq!(settings.map(|s| s.body_timeout_ms).ok(), Some(750));
    }
}

#[test]
fn an_unknown_key_in_the_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("qrscene.toml");
    std::fs::write(&file, "wechat_appsecret = \"x\"\n").expect("write");
    let err = Settings::load(Some(&file)).expect_err("refused");
    assert!(err.to_string().contains("wechat_appsecret"), "{err}");
}

#[test]
fn secrets_and_urls_are_not_in_the_debug_output() {
    let settings = Settings {
        database_url: "postgres://qrscene:hunter2@db/qrscene".into(),
        redis_url: Some("redis://:hunter3@cache:6379".into()),
        ..Settings::default()
    };
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("hunter3"),
        "{debug}"
    );
}

fn refusal(settings: Settings) -> String {
    settings.check().expect_err("refused").to_string()
}

#[test]
fn half_of_the_credentials_refuses_naming_the_missing_one() {
    let appid_only = Settings {
        wechat_appid: Some("wxabc".into()),
        ..Settings::default()
    };
    assert_eq!(
        refusal(appid_only),
        "WECHAT_APPID is set but WECHAT_SECRET is not: set both for live mode, or neither for sandbox mode"
    );
    let secret_only = Settings {
        wechat_secret: Some("s".into()),
        ..Settings::default()
    };
    assert!(refusal(secret_only).starts_with("WECHAT_SECRET is set but WECHAT_APPID is not"));
    let both = Settings {
        wechat_appid: Some("wxabc".into()),
        wechat_secret: Some("s".into()),
        listen: "0.0.0.0:8080".parse().expect("address"),
        ..Settings::default()
    };
    assert!(both.check().is_ok());
    assert!(!both.sandbox());
    let previous_alone = Settings {
        wechat_encoding_aes_key_previous: Some("k".into()),
        ..Settings::default()
    };
    assert!(refusal(previous_alone).starts_with("WECHAT_ENCODING_AES_KEY_PREVIOUS is set"));
}

#[test]
fn sandbox_mode_stays_on_loopback_unless_asked_for() {
    let local = Settings::default();
    assert!(local.check().is_ok() && local.sandbox());
    let v6 = Settings {
        listen: "[::1]:8080".parse().expect("address"),
        ..Settings::default()
    };
    assert!(v6.check().is_ok());
    let public = Settings {
        listen: "0.0.0.0:8080".parse().expect("address"),
        ..Settings::default()
    };
    assert!(refusal(public.clone()).contains("QRSCENE_LISTEN=0.0.0.0:8080"));
    let asked = Settings {
        sandbox: true,
        ..public
    };
    assert!(asked.check().is_ok());
    let confused = Settings {
        sandbox: true,
        wechat_appid: Some("wxabc".into()),
        wechat_secret: Some("s".into()),
        ..Settings::default()
    };
    assert!(refusal(confused).starts_with("QRSCENE_SANDBOX=true but"));
}

#[test]
fn limits_of_zero_are_refused() {
    let zero = Settings {
        body_timeout_ms: 0,
        ..Settings::default()
    };
    assert_eq!(
        refusal(zero),
        "QRSCENE_BODY_TIMEOUT_MS must be greater than 0"
    );
}

#[test]
fn secrets_are_read_verbatim_and_never_shown_in_errors() {
    // An all-digit callback token is a token, not a number.
    let vars = [
        ("WECHAT_TOKEN", "20240101123"),
        ("QRSCENE_API_KEYS", "true"),
    ];
    let settings = Settings::load_from(None, vars).expect("loads");
    assert_eq!(
        settings.wechat_token.as_ref().map(|t| t.expose_secret()),
        Some("20240101123")
    );
    assert_eq!(
        settings.api_keys.as_ref().map(|t| t.expose_secret()),
        Some("true")
    );
    // A wrong type elsewhere names the key; the secrets beside it stay out of the message.
    let vars = [
        ("WECHAT_TOKEN", "987654321"),
        ("QRSCENE_BODY_TIMEOUT_MS", "soon"),
    ];
    let err = Settings::load_from(None, vars).err().map(|e| e.to_string());
    let text = err.unwrap_or_default();
    assert!(text.contains("body_timeout_ms"), "{text}");
    assert!(!text.contains("987654321"), "{text}");
}
