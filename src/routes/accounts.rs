//! `/api/v1/accounts` (the admin API of accounts) and `/api/v1/keys` (API keys). Reading
//! the accounts is open to every key, for the accounts it may use; everything else needs an
//! admin key. No answer ever carries a secret.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::access::require_admin;
use crate::accounts::admin::{AccountView, CreateAccount, UpdateAccount, verify_credentials};
use crate::accounts::keys::{self, KeyView, NewKey, Role, Scope};
use crate::accounts::{AccountError, Accounts, refresh, store};
use crate::auth::{ApiKeys, Caller, MAX_NAME_LEN};
use crate::error::{ApiError, ErrorBody};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Db(e) => e.into(),
            AccountError::Seal(e @ crate::accounts::seal::SealError::NoKey) => {
                Self::Unavailable(e.to_string())
            }
            AccountError::Seal(e) => Self::Internal(anyhow::Error::new(e)),
            e @ AccountError::NotFound(_) => Self::NotFound(e.to_string()),
            e @ (AccountError::Exists(_) | AccountError::EnvManaged(_)) => {
                Self::Conflict(e.to_string())
            }
            AccountError::Invalid(message) => Self::Malformed(message),
            AccountError::Credentials {
                appid,
                errcode,
                errmsg,
            } => Self::WeChatCredentials {
                appid,
                errcode,
                errmsg,
            },
            e @ AccountError::Unreachable(_) => Self::WeChatUnreachable(e.to_string()),
        }
    }
}

/// The accounts the caller may see, by appid.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    /// The accounts.
    pub items: Vec<AccountView>,
}

/// Adds an official account (admin keys only). Its secrets are sealed with
/// `QRSCENE_MASTER_KEY` (503 without one); its credentials are checked with one token fetch
/// unless `"verify": false` (400 `wechat_credentials` with WeChat's errcode when wrong).
#[utoipa::path(
    tag = "accounts",
    request_body = CreateAccount,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "The account", body = AccountView),
        (status = 400, description = "`malformed_request` (a field, named) or `wechat_credentials` (WeChat refused them: 40013 invalid appid, 40125 invalid secret, 40164 IP not whitelisted)", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
        (status = 409, description = "`conflict`: an account with this appid exists", body = ErrorBody),
        (status = 502, description = "`wechat_unreachable`: the credentials could not be checked", body = ErrorBody),
        (status = 503, description = "`unavailable`: no `QRSCENE_MASTER_KEY` to seal the secrets", body = ErrorBody),
    )
)]
#[post("/api/v1/accounts")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn create(
    caller: Caller,
    accounts: web::Data<Accounts>,
    body: web::Json<CreateAccount>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let (new, verify) = body.into_inner().checked()?;
    if accounts.get(new.appid.as_str()).is_some() {
        return Err(AccountError::Exists(new.appid.to_string()).into());
    }
    if new.secrets.secret.is_some() && accounts.sealer().is_none() {
        return Err(AccountError::Seal(crate::accounts::seal::SealError::NoKey).into());
    }
    if let (true, Some(secret)) = (verify, &new.secrets.secret) {
        verify_credentials(accounts.wiring(), &new.appid, secret, new.token_mode).await?;
    }
    let appid = new.appid.to_string();
    store::create(accounts.db(), accounts.sealer(), new).await?;
    accounts.reload().await?;
    tracing::info!(appid, "account created");
    let account = accounts
        .get(&appid)
        .ok_or_else(|| AccountError::NotFound(appid.clone()))?;
    Ok(HttpResponse::Created().json(AccountView::of(&account)))
}

/// The accounts the key may use (every account for an admin key), enabled or not.
#[utoipa::path(
    tag = "accounts",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The accounts", body = AccountList),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[get("/api/v1/accounts")]
pub async fn list(caller: Caller, accounts: web::Data<Accounts>) -> HttpResponse {
    let items = accounts
        .all()
        .iter()
        .filter(|a| caller.may_use(a.appid.as_str()))
        .map(|a| AccountView::of(a))
        .collect();
    HttpResponse::Ok().json(AccountList { items })
}

/// One account (404 for an account the key may not use).
#[utoipa::path(
    tag = "accounts",
    params(("appid" = String, Path, description = "The account's appid")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[get("/api/v1/accounts/{appid}")]
pub async fn get(
    caller: Caller,
    accounts: web::Data<Accounts>,
    appid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let appid = appid.into_inner();
    let account = accounts
        .find(&appid)
        .await
        .filter(|a| caller.may_use(a.appid.as_str()))
        .ok_or(AccountError::NotFound(appid))?;
    Ok(HttpResponse::Ok().json(AccountView::of(&account)))
}

/// Changes an account (admin keys only): each field given replaces the stored one; a new
/// secret is checked with one token fetch unless `"verify": false`. The account configured
/// by environment takes only `name` and `original_id` (409 otherwise).
#[utoipa::path(
    tag = "accounts",
    params(("appid" = String, Path, description = "The account's appid")),
    request_body = UpdateAccount,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 400, description = "`malformed_request` or `wechat_credentials`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the account is configured by environment", body = ErrorBody),
        (status = 502, description = "`wechat_unreachable`", body = ErrorBody),
        (status = 503, description = "`unavailable`: no `QRSCENE_MASTER_KEY` to seal the secrets", body = ErrorBody),
    )
)]
#[patch("/api/v1/accounts/{appid}")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn update(
    caller: Caller,
    accounts: web::Data<Accounts>,
    appid: web::Path<String>,
    body: web::Json<UpdateAccount>,
) -> Result<HttpResponse, ApiError> {
    apply(&caller, &accounts, appid.into_inner(), body.into_inner()).await
}

async fn apply(
    caller: &Caller,
    accounts: &Accounts,
    appid: String,
    body: UpdateAccount,
) -> Result<HttpResponse, ApiError> {
    require_admin(caller)?;
    let current = accounts
        .find(&appid)
        .await
        .ok_or_else(|| AccountError::NotFound(appid.clone()))?;
    let (patch, verify) = body.checked(&current)?;
    if let (true, Some(secret)) = (verify, &patch.secrets.secret) {
        let mode = patch.token_mode.unwrap_or(current.token_mode);
        verify_credentials(accounts.wiring(), &current.appid, secret, mode).await?;
    }
    store::update(accounts.db(), accounts.sealer(), &appid, patch).await?;
    accounts.reload().await?;
    tracing::info!(appid, "account changed");
    let account = accounts
        .get(&appid)
        .ok_or_else(|| AccountError::NotFound(appid.clone()))?;
    Ok(HttpResponse::Ok().json(AccountView::of(&account)))
}

/// Disables an account (admin keys only): it serves nothing more, its data is kept;
/// `PATCH` with `"enabled": true` brings it back.
#[utoipa::path(
    tag = "accounts",
    params(("appid" = String, Path, description = "The account's appid")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The disabled account", body = AccountView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the account configured by environment is disabled by removing it from the environment", body = ErrorBody),
    )
)]
#[delete("/api/v1/accounts/{appid}")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn disable(
    caller: Caller,
    accounts: web::Data<Accounts>,
    appid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let body = UpdateAccount {
        enabled: Some(false),
        ..Default::default()
    };
    apply(&caller, &accounts, appid.into_inner(), body).await
}

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name for logs and listings, 1 to 64 characters.
    #[schema(example = "crm")]
    pub name: String,
    /// `admin` or `client`.
    pub role: Role,
    /// The appids it may use; left out or `null` for every account.
    pub accounts: Option<Vec<String>>,
    /// Extra permissions: `token` (may read the access tokens of its accounts).
    pub permissions: Option<Vec<String>>,
}

/// A key just created: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key, to send as `Authorization: Bearer <key>`. It is not stored and cannot be
    /// shown again.
    pub key: String,
    /// The key's listing.
    #[serde(flatten)]
    pub view: KeyView,
}

/// The API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first, revoked ones included.
    pub items: Vec<KeyView>,
}

/// Creates an API key (admin keys only) and shows it once; only its SHA-256 is stored.
#[utoipa::path(
    tag = "keys",
    request_body = CreateKey,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "The key, shown once", body = CreatedKey),
        (status = 400, description = "`malformed_request`: a field, named", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
    )
)]
#[post("/api/v1/keys")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn create_key(
    caller: Caller,
    accounts: web::Data<Accounts>,
    api_keys: web::Data<ApiKeys>,
    body: web::Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let new = checked_key(&accounts, body.into_inner()).await?;
    let (key, view) = keys::create(accounts.db(), new).await?;
    refresh::reload(&accounts, &api_keys).await?;
    tracing::info!(key = view.name, id = view.id, "API key created");
    Ok(HttpResponse::Created().json(CreatedKey { key, view }))
}

/// Checks a key to create: its name, and that its accounts exist.
///
/// # Errors
/// [`ApiError::Malformed`] naming the field.
pub async fn checked_key(accounts: &Accounts, body: CreateKey) -> Result<NewKey, ApiError> {
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(ApiError::Malformed(format!(
            "name: must be 1 to {MAX_NAME_LEN} characters without control characters"
        )));
    }
    let mut can_read_token = false;
    for permission in body.permissions.unwrap_or_default() {
        match permission.as_str() {
            "token" => can_read_token = true,
            other => {
                return Err(ApiError::Malformed(format!(
                    "permissions: unknown permission {other:?}; the only one is \"token\""
                )));
            }
        }
    }
    let scope = match body.accounts {
        None => Scope::All,
        Some(appids) if appids.is_empty() => {
            return Err(ApiError::Malformed(
                "accounts: must name at least one appid, or be left out for every account"
                    .to_owned(),
            ));
        }
        Some(appids) => {
            for appid in &appids {
                if accounts.find(appid).await.is_none() {
                    return Err(ApiError::Malformed(format!(
                        "accounts: no account has appid {appid}"
                    )));
                }
            }
            Scope::Only(appids)
        }
    };
    Ok(NewKey {
        name,
        role: body.role,
        scope,
        can_read_token,
    })
}

/// The API keys (admin keys only), never the keys themselves.
#[utoipa::path(
    tag = "keys",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
    )
)]
#[get("/api/v1/keys")]
pub async fn list_keys(
    caller: Caller,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    Ok(HttpResponse::Ok().json(KeyList {
        items: keys::list(accounts.db()).await?,
    }))
}

/// Revokes an API key (admin keys only): refused at once on this instance, within
/// `QRSCENE_ACCOUNTS_REFRESH_MS` on the others.
#[utoipa::path(
    tag = "keys",
    params(("id" = i64, Path, description = "The key's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[delete("/api/v1/keys/{id}")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn revoke_key(
    caller: Caller,
    accounts: web::Data<Accounts>,
    api_keys: web::Data<ApiKeys>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let id = id.into_inner();
    let view = keys::revoke(accounts.db(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no API key with id {id}")))?;
    refresh::reload(&accounts, &api_keys).await?;
    tracing::info!(key = view.name, id, "API key revoked");
    Ok(HttpResponse::Ok().json(view))
}
