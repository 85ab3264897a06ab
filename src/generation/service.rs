//! Creating codes and logging every attempt; reading the log back.

use std::sync::Arc;

use chrono::Utc;
use entity::qr_generation::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use super::legacy::LegacyRequest;
use super::request::{NewGeneration, Payload};
use super::scene_key;
use crate::error::ApiError;
use crate::paging::PageRequest;
use crate::wechat::WeChat;
use crate::wechat::qrcode::{
    ExpireSeconds, MAX_PERMANENT_CODES, QrKind, QrSpec, QrTicket, Scene, SceneStr,
};

/// Status of a generation WeChat answered with a ticket.
pub const SUCCEEDED: &str = "succeeded";
/// Status of a generation that got no ticket.
pub const FAILED: &str = "failed";

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
    /// Passive reply text.
    pub reply: Option<String>,
    /// The API key's name.
    pub api_key: Option<String>,
}

/// Filters of `GET /api/v1/qrcodes`.
#[derive(Debug, Default)]
pub struct ListFilter {
    /// `payload.activity_id`.
    pub activity_id: Option<String>,
    /// `temporary` or `permanent`.
    pub kind: Option<QrKind>,
    /// `succeeded` or `failed`.
    pub status: Option<String>,
    /// Which page.
    pub page: PageRequest,
}

/// The generation service: WeChat, the log, and the default expiry.
pub struct Generations {
    db: DatabaseConnection,
    wechat: Arc<WeChat>,
    default_expire: ExpireSeconds,
}

impl Generations {
    /// The service over `db` and `wechat`.
    pub fn new(db: DatabaseConnection, wechat: Arc<WeChat>, default_expire: ExpireSeconds) -> Self {
        Self {
            db,
            wechat,
            default_expire,
        }
    }

    /// Creates a code for `new`, assigning a scene when it has none.
    ///
    /// # Errors
    /// The permanent cap is reached, WeChat failed (the failure is logged first), or the
    /// database failed.
    #[tracing::instrument(skip_all, fields(kind = new.kind.as_str()))]
    pub async fn create(
        &self,
        new: NewGeneration,
        api_key: Option<String>,
    ) -> Result<Created, ApiError> {
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
            api_key,
        };
        if spec.kind() == QrKind::Permanent {
            if let Some(existing) = self.find_permanent(&spec).await? {
                return Ok(Created::Existing(existing));
            }
            let made = Entity::find()
                .filter(Column::Kind.eq(QrKind::Permanent.as_str()))
                .filter(Column::Status.eq(SUCCEEDED))
                .count(&self.db)
                .await?;
            if made >= MAX_PERMANENT_CODES {
                return Err(ApiError::PermanentCapReached(MAX_PERMANENT_CODES));
            }
        }
        self.attempt(spec, attribution).await
    }

    /// Creates a temporary string-scene code for a legacy request: WeChat gets a short
    /// assigned key, the log keeps the original `sceneStr` and its decoded payload.
    ///
    /// # Errors
    /// WeChat failed (the failure is logged first) or the database failed.
    #[tracing::instrument(skip_all)]
    pub async fn create_legacy(
        &self,
        request: LegacyRequest,
        api_key: Option<String>,
    ) -> Result<Created, ApiError> {
        let scene = Scene::Str(SceneStr::parse(&scene_key::new_key())?);
        let spec = QrSpec::temporary(scene, request.expire.unwrap_or(self.default_expire));
        let attribution = Attribution {
            payload: request.payload,
            scene_source: Some(request.scene_source),
            reply: None,
            api_key,
        };
        self.attempt(spec, attribution).await
    }

    /// Calls WeChat for `spec` and logs the attempt, whatever its outcome.
    ///
    /// # Errors
    /// WeChat failed (logged as a failed generation) or the database failed.
    pub async fn attempt(
        &self,
        spec: QrSpec,
        attribution: Attribution,
    ) -> Result<Created, ApiError> {
        let outcome = self.wechat.create_qrcode(&spec).await;
        let row = log_row(&spec, attribution, &outcome);
        let inserted = row.insert(&self.db).await;
        let model = match inserted {
            Ok(model) => model,
            // A concurrent request stored the same permanent scene first: answer with it.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                if let Some(existing) = self.find_permanent(&spec).await? {
                    return Ok(Created::Existing(existing));
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        match outcome {
            Ok(_) => Ok(Created::New(model)),
            Err(source) => {
                tracing::warn!(generation = model.id, error.message = %source, "WeChat refused a code");
                Err(ApiError::WeChat {
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
    pub async fn get(&self, id: i64) -> Result<qr_generation::Model, ApiError> {
        Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no QR code generation with id {id}")))
    }

    /// A page of generations, newest first, and the cursor of the next page.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list(
        &self,
        filter: ListFilter,
    ) -> Result<(Vec<qr_generation::Model>, Option<i64>), ApiError> {
        let mut query = Entity::find();
        if let Some(activity) = filter.activity_id {
            query = query.filter(Column::ActivityId.eq(activity));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(Column::Kind.eq(kind.as_str()));
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
        spec: &QrSpec,
    ) -> Result<Option<qr_generation::Model>, ApiError> {
        Ok(Entity::find()
            .filter(Column::Kind.eq(QrKind::Permanent.as_str()))
            .filter(Column::Status.eq(SUCCEEDED))
            .filter(Column::ActionName.eq(spec.action_name()))
            .filter(Column::Scene.eq(spec.scene.to_string()))
            .one(&self.db)
            .await?)
    }
}

fn log_row(
    spec: &QrSpec,
    attribution: Attribution,
    outcome: &Result<QrTicket, crate::wechat::error::WeChatError>,
) -> qr_generation::ActiveModel {
    let now = Utc::now();
    let (payload, activity_id) = match attribution.payload {
        Some(p) => (Some(p.value), p.activity_id),
        None => (None, None),
    };
    let mut row = qr_generation::ActiveModel {
        id: NotSet,
        kind: Set(spec.kind().as_str().to_owned()),
        action_name: Set(spec.action_name().to_owned()),
        scene: Set(spec.scene.to_string()),
        scene_source: Set(attribution.scene_source),
        payload: Set(payload),
        activity_id: Set(activity_id),
        ticket: Set(None),
        url: Set(None),
        expire_seconds: Set(None),
        expires_at: Set(None),
        status: Set(SUCCEEDED.to_owned()),
        errcode: Set(None),
        errmsg: Set(None),
        api_key: Set(attribution.api_key),
        reply: Set(attribution.reply),
        created_at: Set(now),
    };
    metrics::counter!(
        "qrscene_qr_generations_total",
        "kind" => spec.kind().as_str(),
        "status" => if outcome.is_ok() { SUCCEEDED } else { FAILED }
    )
    .increment(1);
    match outcome {
        Ok(answer) => {
            let expire = answer
                .expire_seconds
                .filter(|_| spec.kind() == QrKind::Temporary);
            row.ticket = Set(Some(answer.ticket.clone()));
            row.url = Set(Some(answer.url.clone()));
            row.expire_seconds = Set(expire.map(|s| s as i32));
            row.expires_at = Set(expire.map(|s| now + chrono::Duration::seconds(i64::from(s))));
        }
        Err(e) => {
            row.status = Set(FAILED.to_owned());
            row.errcode = Set(e.errcode());
            row.errmsg = Set(Some(e.errmsg()));
        }
    }
    row
}
