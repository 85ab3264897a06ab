//! Creating codes and logging every attempt; reading the log back.
//!
//! The log row is written before WeChat is called (`pending`) and settled after
//! (`succeeded` or `failed`): a code never exists at WeChat without its row, even when the
//! process stops between the call and the answer.

use chrono::Utc;
use entity::qr_generation::{self, CodeKind, Column, Entity, GenerationStatus};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use super::error::GenerationError;
use super::legacy::LegacyRequest;
use super::request::{NewGeneration, Payload};
use super::scene_key;
use crate::accounts::Account;
use crate::actions::spec::{StoredActions, text_reply_json};
use crate::paging::PageRequest;
use crate::wechat::error::WeChatError;
use crate::wechat::qrcode::{
    ExpireSeconds, MAX_PERMANENT_CODES, QrKind, QrSpec, QrTicket, Scene, SceneStr,
};

/// A code made now, or the permanent code stored earlier for the same scene.
#[derive(Debug)]
pub enum Created {
    /// WeChat was called and the attempt logged.
    New(qr_generation::Model),
    /// The same permanent scene was asked before: nothing was called.
    Existing(qr_generation::Model),
}

/// What one attempt carries besides the WeChat request.
#[derive(Debug, Default)]
pub struct Attribution {
    /// Attribution data.
    pub payload: Option<Payload>,
    /// The caller's original scene when a short key replaced it (legacy).
    pub scene_source: Option<String>,
    /// Passive reply text (legacy `reply`).
    pub reply: Option<String>,
    /// The code's own actions.
    pub actions: Option<StoredActions>,
    /// The API key's name.
    pub api_key: Option<String>,
}

/// Filters of `GET /api/v1/qrcodes`.
#[derive(Debug, Default)]
pub struct ListFilter {
    /// `payload.activity_id`.
    pub activity_id: Option<String>,
    /// Temporary or permanent.
    pub kind: Option<QrKind>,
    /// Pending, succeeded or failed.
    pub status: Option<GenerationStatus>,
    /// Which page.
    pub page: PageRequest,
}

/// The stored kind of a code of `kind`.
pub fn code_kind(kind: QrKind) -> CodeKind {
    match kind {
        QrKind::Temporary => CodeKind::Temporary,
        QrKind::Permanent => CodeKind::Permanent,
    }
}

/// The generation service: the log and the default expiry; each call names the account
/// whose WeChat makes the code.
pub struct Generations {
    db: DatabaseConnection,
    default_expire: ExpireSeconds,
}

impl Generations {
    /// The service over `db`.
    pub fn new(db: DatabaseConnection, default_expire: ExpireSeconds) -> Self {
        Self { db, default_expire }
    }

    /// Creates a code of `account` for `new`, assigning a scene when it has none.
    ///
    /// # Errors
    /// The permanent cap is reached, WeChat failed (the failure is logged), or the
    /// database failed.
    #[tracing::instrument(skip_all, fields(kind = new.kind.as_str()))]
    pub async fn create(
        &self,
        account: &Account,
        new: NewGeneration,
        api_key: Option<String>,
    ) -> Result<Created, GenerationError> {
        let scene = match new.scene {
            Some(scene) => scene,
            None => Scene::Str(SceneStr::parse(&scene_key::new_key())?),
        };
        let spec = match new.kind {
            QrKind::Temporary => {
                QrSpec::temporary(scene, new.expire.unwrap_or(self.default_expire))
            }
            QrKind::Permanent => QrSpec::permanent(scene),
        };
        let attribution = Attribution {
            payload: new.payload,
            scene_source: None,
            reply: new.reply,
            actions: new.actions,
            api_key,
        };
        if spec.kind() == QrKind::Permanent {
            if let Some(existing) = self.find_permanent(account.id, &spec).await? {
                if let Some(at) = existing.retired_at {
                    return Err(GenerationError::Retired {
                        scene: existing.scene,
                        at,
                    });
                }
                return Ok(Created::Existing(existing));
            }
            // Pending codes may exist at WeChat already: they count against the cap.
            let made = Entity::find()
                .filter(Column::AccountId.eq(account.id))
                .filter(Column::Kind.eq(CodeKind::Permanent))
                .filter(Column::Status.ne(GenerationStatus::Failed))
                .count(&self.db)
                .await?;
            if made >= MAX_PERMANENT_CODES {
                return Err(GenerationError::PermanentCapReached(MAX_PERMANENT_CODES));
            }
            // This attempt counts against the cap from now on.
            metrics::gauge!("qrscene_permanent_codes_left", "appid" => account.appid.to_string())
                .set((MAX_PERMANENT_CODES - made - 1) as f64);
        }
        self.attempt(account, spec, attribution).await
    }

    /// Creates a temporary string-scene code for a legacy request: WeChat gets a short
    /// assigned key, the log keeps the original `sceneStr` and its decoded payload.
    ///
    /// # Errors
    /// WeChat failed (the failure is logged) or the database failed.
    #[tracing::instrument(skip_all)]
    pub async fn create_legacy(
        &self,
        account: &Account,
        request: LegacyRequest,
        api_key: Option<String>,
    ) -> Result<Created, GenerationError> {
        let scene = Scene::Str(SceneStr::parse(&scene_key::new_key())?);
        let spec = QrSpec::temporary(scene, request.expire.unwrap_or(self.default_expire));
        let attribution = Attribution {
            payload: request.payload,
            scene_source: Some(request.scene_source),
            reply: None,
            actions: request.actions,
            api_key,
        };
        self.attempt(account, spec, attribution).await
    }

    /// Logs a pending attempt for `spec`, calls WeChat, and settles the row with the
    /// outcome. Nothing is called when the row cannot be written.
    ///
    /// # Errors
    /// WeChat failed (logged as a failed generation) or the database failed.
    pub async fn attempt(
        &self,
        account: &Account,
        spec: QrSpec,
        attribution: Attribution,
    ) -> Result<Created, GenerationError> {
        let wechat = account
            .wechat()
            .map_err(GenerationError::AccountUnavailable)?
            .clone();
        let pending = pending_row(account.id, &spec, attribution)
            .insert(&self.db)
            .await?;
        let id = pending.id;
        let outcome = wechat.create_qrcode(&spec).await;
        count(&spec, &outcome);
        let settled = settle(pending, &spec, &outcome).update(&self.db).await;
        let model = match settled {
            Ok(model) => model,
            // A concurrent request stored the same permanent scene first. WeChat answers
            // one permanent scene with one code, so that row is this code's row: this
            // attempt's pending duplicate goes.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let existing = self.find_permanent(account.id, &spec).await?;
                Entity::delete_by_id(id).exec(&self.db).await?;
                return match existing {
                    Some(existing) => Ok(Created::Existing(existing)),
                    None => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        match outcome {
            Ok(_) => Ok(Created::New(model)),
            Err(source) => {
                tracing::warn!(generation = model.id, error.message = %source, "WeChat refused a code");
                Err(GenerationError::WeChat {
                    source,
                    generation: Some(model.id),
                })
            }
        }
    }

    /// One generation.
    ///
    /// # Errors
    /// Not found, or the database failed.
    pub async fn get(&self, id: i64) -> Result<qr_generation::Model, GenerationError> {
        Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(GenerationError::NotFound(id))
    }

    /// Retires the permanent code `id` of account `account_id` (once; later calls change
    /// nothing) and answers it.
    ///
    /// # Errors
    /// Not found (or another account's), not a permanent code that WeChat made, or the
    /// database failed.
    pub async fn retire(
        &self,
        account_id: i64,
        id: i64,
    ) -> Result<qr_generation::Model, GenerationError> {
        let code = self.get(id).await?;
        if code.account_id != account_id {
            return Err(GenerationError::NotFound(id));
        }
        if code.kind != CodeKind::Permanent || code.status != GenerationStatus::Succeeded {
            return Err(GenerationError::NotRetirable(id));
        }
        if code.retired_at.is_some() {
            return Ok(code);
        }
        let mut row: qr_generation::ActiveModel = code.into();
        row.retired_at = Set(Some(Utc::now()));
        Ok(row.update(&self.db).await?)
    }

    /// A page of the generations of account `account_id`, newest first, and the cursor of
    /// the next page.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list(
        &self,
        account_id: i64,
        filter: ListFilter,
    ) -> Result<(Vec<qr_generation::Model>, Option<i64>), GenerationError> {
        let mut query = Entity::find().filter(Column::AccountId.eq(account_id));
        if let Some(activity) = filter.activity_id {
            query = query.filter(Column::ActivityId.eq(activity));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(Column::Kind.eq(code_kind(kind)));
        }
        if let Some(status) = filter.status {
            query = query.filter(Column::Status.eq(status));
        }
        if let Some(before) = filter.page.before {
            query = query.filter(Column::Id.lt(before));
        }
        let mut rows = query
            .order_by_desc(Column::Id)
            .limit(filter.page.limit + 1)
            .all(&self.db)
            .await?;
        let next = filter.page.cut(&mut rows, |r| r.id);
        Ok((rows, next))
    }

    async fn find_permanent(
        &self,
        account_id: i64,
        spec: &QrSpec,
    ) -> Result<Option<qr_generation::Model>, GenerationError> {
        Ok(Entity::find()
            .filter(Column::AccountId.eq(account_id))
            .filter(Column::Kind.eq(CodeKind::Permanent))
            .filter(Column::Status.eq(GenerationStatus::Succeeded))
            .filter(Column::ActionName.eq(spec.action_name()))
            .filter(Column::Scene.eq(spec.scene.to_string()))
            .one(&self.db)
            .await?)
    }
}

/// The row of an attempt about to call WeChat.
fn pending_row(
    account_id: i64,
    spec: &QrSpec,
    attribution: Attribution,
) -> qr_generation::ActiveModel {
    let reply = match (&attribution.actions, &attribution.reply) {
        (Some(actions), _) if actions.reply.is_some() => actions.reply.clone(),
        (_, Some(text)) => Some(text_reply_json(text)),
        _ => None,
    };
    let actions = attribution.actions;
    let (payload, activity_id) = match attribution.payload {
        Some(p) => (Some(p.value), p.activity_id),
        None => (None, None),
    };
    qr_generation::ActiveModel {
        id: NotSet,
        account_id: Set(account_id),
        kind: Set(code_kind(spec.kind())),
        action_name: Set(spec.action_name().to_owned()),
        scene: Set(spec.scene.to_string()),
        scene_source: Set(attribution.scene_source),
        payload: Set(payload),
        activity_id: Set(activity_id),
        ticket: Set(None),
        url: Set(None),
        expire_seconds: Set(None),
        expires_at: Set(None),
        status: Set(GenerationStatus::Pending),
        errcode: Set(None),
        errmsg: Set(None),
        api_key: Set(attribution.api_key),
        reply: Set(reply),
        actions_on: Set(actions.as_ref().map(|a| a.on.to_owned())),
        action_tags: Set(actions.as_ref().is_some_and(|a| a.tags)),
        action_kefu: Set(actions.as_ref().is_some_and(|a| a.kefu)),
        actions: Set(actions.map(|a| a.json)),
        retired_at: Set(None),
        created_at: Set(Utc::now()),
    }
}

/// The changes that settle `pending` with WeChat's answer.
fn settle(
    pending: qr_generation::Model,
    spec: &QrSpec,
    outcome: &Result<QrTicket, WeChatError>,
) -> qr_generation::ActiveModel {
    let mut row: qr_generation::ActiveModel = pending.into();
    match outcome {
        Ok(answer) => {
            let expire = answer
                .expire_seconds
                .filter(|_| spec.kind() == QrKind::Temporary);
            let now = Utc::now();
            row.status = Set(GenerationStatus::Succeeded);
            row.ticket = Set(Some(answer.ticket.clone()));
            row.url = Set(Some(answer.url.clone()));
            row.expire_seconds = Set(expire.and_then(|s| i32::try_from(s).ok()));
            row.expires_at = Set(expire.map(|s| now + chrono::Duration::seconds(i64::from(s))));
        }
        Err(e) => {
            row.status = Set(GenerationStatus::Failed);
            row.errcode = Set(e.errcode());
            row.errmsg = Set(Some(e.errmsg()));
        }
    }
    row
}

fn count(spec: &QrSpec, outcome: &Result<QrTicket, WeChatError>) {
    metrics::counter!(
        "qrscene_qr_generations_total",
        "kind" => spec.kind().as_str(),
        "status" => if outcome.is_ok() { "succeeded" } else { "failed" }
    )
    .increment(1);
}
