//! The quota ledger of an account: its permanent codes (WeChat allows 100,000, ever, and
//! never frees one), its `qrcode/create` calls of WeChat's day (Asia/Shanghai), and when
//! WeChat last answered 45009 (daily quota used up). Read from the generation log, which
//! holds every attempt, failures included.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::qr_generation::{CodeKind, Column, Entity, GenerationStatus};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::wechat::error::ERR_QUOTA;
use crate::wechat::qrcode::MAX_PERMANENT_CODES;

/// Below this share of permanent codes left, the ledger warns.
pub const LOW_SHARE: f64 = 0.05;

/// Permanent codes of an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Permanent {
    /// WeChat's limit per account, ever (100,000).
    pub limit: u64,
    /// Made or being made (a pending attempt may exist at WeChat): they count against it.
    pub used: u64,
    /// What is left.
    pub left: u64,
    /// Of those used, the ones retired (their scenes are never made again).
    pub retired: u64,
}

/// `qrcode/create` calls of WeChat's current day.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallsToday {
    /// WeChat's day (Asia/Shanghai), e.g. `2026-12-08`.
    pub day: String,
    /// Attempts logged since its midnight, failures included.
    pub qrcode_create: u64,
}

/// `GET /api/v1/accounts/{appid}/quota`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Quota {
    /// The account.
    pub account: String,
    /// Permanent codes.
    pub permanent: Permanent,
    /// Calls today.
    pub calls_today: CallsToday,
    /// When WeChat last answered 45009 (daily quota used up) to `qrcode/create`.
    pub last_quota_error_at: Option<DateTime<Utc>>,
    /// What needs attention, in words (empty when nothing does).
    pub warnings: Vec<String>,
}

/// Midnight of WeChat's current day, as UTC.
fn wechat_midnight(now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let tz = chrono_tz::Asia::Shanghai;
    let day = now.with_timezone(&tz).date_naive();
    let midnight = tz
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map_or(now - Duration::days(1), |t| t.with_timezone(&Utc));
    (day.to_string(), midnight)
}

/// The ledger of account `account_id` (`appid`), now; sets the
/// `qrscene_permanent_codes_left{appid}` gauge.
///
/// # Errors
/// The database failed.
pub async fn read(db: &DatabaseConnection, account_id: i64, appid: &str) -> Result<Quota, DbErr> {
    let now = Utc::now();
    let used = Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(CodeKind::Permanent))
        .filter(Column::Status.ne(GenerationStatus::Failed))
        .count(db)
        .await?;
    let retired = Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(CodeKind::Permanent))
        .filter(Column::RetiredAt.is_not_null())
        .count(db)
        .await?;
    let (day, midnight) = wechat_midnight(now);
    let today = Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::CreatedAt.gte(midnight))
        .count(db)
        .await?;
    let last_quota_error_at = Entity::find()
        .select_only()
        .column(Column::CreatedAt)
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Errcode.eq(ERR_QUOTA))
        .order_by_desc(Column::Id)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    let left = MAX_PERMANENT_CODES.saturating_sub(used);
    metrics::gauge!("qrscene_permanent_codes_left", "appid" => appid.to_owned()).set(left as f64);
    let mut warnings = Vec::new();
    if (left as f64) < LOW_SHARE * MAX_PERMANENT_CODES as f64 {
        warnings.push(format!(
            "only {left} of {MAX_PERMANENT_CODES} permanent codes are left, and WeChat never frees one: \
             use temporary codes (or live codes) where a code need not last"
        ));
    }
    if let Some(at) = last_quota_error_at.filter(|at| *at >= midnight) {
        warnings.push(format!(
            "WeChat refused qrcode/create for its daily quota (45009) today at {at}; it resets at \
             midnight Asia/Shanghai"
        ));
    }
    Ok(Quota {
        account: appid.to_owned(),
        permanent: Permanent {
            limit: MAX_PERMANENT_CODES,
            used,
            left,
            retired,
        },
        calls_today: CallsToday {
            day,
            qrcode_create: today,
        },
        last_quota_error_at,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechats_day_starts_at_midnight_in_shanghai() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 17, 30, 0).unwrap();
        let (day, midnight) = wechat_midnight(now);
        assert_eq!(day, "2026-12-08");
        assert_eq!(
            midnight,
            Utc.with_ymd_and_hms(2026, 12, 7, 16, 0, 0).unwrap()
        );
        let (day, _) = wechat_midnight(Utc.with_ymd_and_hms(2026, 12, 7, 15, 59, 0).unwrap());
        assert_eq!(day, "2026-12-07");
    }
}
