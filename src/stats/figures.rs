//! The figures of one group as the API answers them, and the rows both query paths read.

use sea_orm::FromQueryResult;
use serde::Serialize;
use utoipa::ToSchema;

/// The figures of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Figures {
    /// subscribe-with-scene + SCAN.
    pub scans: i64,
    /// Distinct openids among scans.
    pub unique_scanners: i64,
    /// Subscribes through a code.
    pub new_followers: i64,
    /// SCANs.
    pub returning_scans: i64,
    /// Unsubscribes of followers the code first brought.
    pub unsubscribes: i64,
    /// new_followers - unsubscribes.
    pub net_new_followers: i64,
}

/// One group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    /// Activity id, code id or day; `null` for codes without activity.
    pub key: Option<String>,
    /// The code (qrcode grouping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qrcode_id: Option<i64>,
    /// The code's activity (qrcode grouping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One result row of a statistics query.
#[derive(Debug, Clone, FromQueryResult)]
pub(crate) struct Row {
    pub(crate) key: Option<String>,
    pub(crate) qrcode_id: Option<i64>,
    pub(crate) activity_id: Option<String>,
    pub(crate) scans: i64,
    pub(crate) unique_scanners: i64,
    pub(crate) new_followers: i64,
    pub(crate) returning_scans: i64,
    pub(crate) unsubscribes: i64,
}

impl Row {
    /// Its figures, with the net new followers.
    pub(crate) fn figures(&self) -> Figures {
        Figures {
            scans: self.scans,
            unique_scanners: self.unique_scanners,
            new_followers: self.new_followers,
            returning_scans: self.returning_scans,
            unsubscribes: self.unsubscribes,
            net_new_followers: self.new_followers - self.unsubscribes,
        }
    }

    /// Whether every figure is zero (a group that nets to nothing).
    pub(crate) fn is_empty(&self) -> bool {
        self.scans == 0
            && self.unique_scanners == 0
            && self.new_followers == 0
            && self.returning_scans == 0
            && self.unsubscribes == 0
    }
}

/// A group row or the totals row (`is_total` 1) of one statement.
#[derive(Debug, FromQueryResult)]
pub(crate) struct Marked {
    is_total: i32,
    key: Option<String>,
    qrcode_id: Option<i64>,
    activity_id: Option<String>,
    scans: i64,
    unique_scanners: i64,
    new_followers: i64,
    returning_scans: i64,
    unsubscribes: i64,
}

impl Marked {
    /// The group rows and the totals row.
    pub(crate) fn split(marked: Vec<Marked>) -> (Vec<Row>, Option<Row>) {
        let (totals, groups): (Vec<Marked>, Vec<Marked>) =
            marked.into_iter().partition(|m| m.is_total != 0);
        (
            groups.into_iter().map(Marked::row).collect(),
            totals.into_iter().next().map(Marked::row),
        )
    }

    fn row(self) -> Row {
        Row {
            key: self.key,
            qrcode_id: self.qrcode_id,
            activity_id: self.activity_id,
            scans: self.scans,
            unique_scanners: self.unique_scanners,
            new_followers: self.new_followers,
            returning_scans: self.returning_scans,
            unsubscribes: self.unsubscribes,
        }
    }
}
