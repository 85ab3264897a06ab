//! The outbox jobs a batch's new events call for, written by the statement (Postgres) or
//! the transaction (SQLite) that stores the events, so that a job exists if and only if its
//! event does. One definition both backends run, over the relation
//! `touched(id, account_id, openid, kind, create_time, occurred_at, generation_id, ...)` of
//! the newly stored events:
//! - a subscribe or SCAN tied to a code whose actions (its own, else its activity's) are
//!   triggered by that kind gets a `tag` job (due after the gathering window, so that one
//!   WeChat call tags many followers) and a `kefu` job (due now, expiring 60 s after the
//!   event's CreateTime, as WeChat allows);
//! - every event of a kind a webhook of its account wants gets a `webhook` job; the first
//!   valid scan of a binding's code also gets one of type `binding.bound`.
//!
//! A code "has its own actions" when it was made with `actions` or a `reply`; only codes
//! without them take their activity's.

use std::sync::LazyLock;

use super::event::{EventKind, is_scan};
use super::link::kinds_sql;
use crate::outbox::{kind, state};

/// The effective actions of a code `g` (own, else its activity's `aa`), as columns.
pub(super) fn effective(column: &str) -> String {
    format!(
        "CASE WHEN g.actions IS NOT NULL OR g.reply IS NOT NULL THEN g.{column} ELSE aa.{column} END"
    )
}

/// Whether event kind `kind_sql` triggers actions with trigger `on_sql` (`both`, or the kind).
pub(super) fn triggered(on_sql: &str, kind_sql: &str) -> String {
    format!("({on_sql} = 'both' OR {on_sql} = {kind_sql})")
}

/// Event kinds webhooks can ask for (by the same name).
fn hooked(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Subscribe | EventKind::Scan | EventKind::Unsubscribe | EventKind::Message
    )
}

/// `INSERT` of the jobs of `touched`; `{now}` and `{tag_due}` are the placeholders of the
/// epoch milliseconds of the commit and of the end of the tag gathering window.
pub(super) static JOBS: LazyLock<String> = LazyLock::new(|| {
    let wants = |what: &str| format!("(w.kinds = '*' OR w.kinds LIKE '%,' || {what} || ',%')");
    format!(
        "INSERT INTO outbox_job (account_id, kind, state, event_id, subject_id, openid, payload, \
            attempts, run_after_ms, expires_ms, created_ms, updated_ms) \
        SELECT a.account_id, k.kind, '{pending}', a.id, a.generation_id, a.openid, a.actions, 0, \
            CASE WHEN k.kind = '{tag}' THEN {{tag_due}} ELSE {{now}} END, \
            CASE WHEN k.kind = '{kefu}' THEN (a.create_time + 60) * 1000 END, {{now}}, {{now}} \
        FROM (SELECT t.id, t.account_id, t.openid, t.kind, t.create_time, t.generation_id, \
                {actions} AS actions, {on} AS actions_on, {tags} AS tags, {kefu_on} AS kefu \
            FROM touched t JOIN qr_generation g ON g.id = t.generation_id \
            LEFT JOIN activity_action aa ON aa.account_id = g.account_id AND aa.activity_id = g.activity_id \
            WHERE {scan}) a \
        CROSS JOIN (SELECT '{tag}' AS kind UNION ALL SELECT '{kefu}') k \
        WHERE {fires} AND ((k.kind = '{tag}' AND a.tags) OR (k.kind = '{kefu}' AND a.kefu)) \
        UNION ALL \
        SELECT t.account_id, '{webhook}', '{pending}', t.id, w.id, t.openid, NULL, 0, {{now}}, NULL, {{now}}, {{now}} \
        FROM touched t JOIN webhook w ON w.account_id = t.account_id AND w.enabled \
        WHERE {hooked} AND {wants_kind} \
        UNION ALL \
        SELECT t.account_id, '{webhook}', '{pending}', t.id, w.id, t.openid, '{{\"type\":\"binding.bound\"}}', 0, \
            {{now}}, NULL, {{now}}, {{now}} \
        FROM touched t JOIN account_binding b ON b.generation_id = t.generation_id \
            AND b.account_id = t.account_id AND t.occurred_at <= b.expires_at \
        JOIN webhook w ON w.account_id = t.account_id AND w.enabled \
        WHERE {scan} AND {wants_bound} \
        AND NOT EXISTS (SELECT 1 FROM wechat_event p WHERE p.generation_id = t.generation_id \
            AND {p_scan} AND p.occurred_at <= b.expires_at AND p.id < t.id) \
        AND NOT EXISTS (SELECT 1 FROM touched q WHERE q.generation_id = t.generation_id \
            AND {q_scan} AND q.occurred_at <= b.expires_at AND q.id < t.id)",
        pending = state::PENDING,
        tag = kind::TAG,
        kefu = kind::KEFU,
        webhook = kind::WEBHOOK,
        actions = effective("actions"),
        on = effective("actions_on"),
        tags = effective("action_tags"),
        kefu_on = effective("action_kefu"),
        scan = kinds_sql("t.kind", is_scan),
        p_scan = kinds_sql("p.kind", is_scan),
        q_scan = kinds_sql("q.kind", is_scan),
        fires = triggered("a.actions_on", "a.kind"),
        hooked = kinds_sql("t.kind", hooked),
        wants_kind = wants("t.kind"),
        wants_bound = wants("'binding.bound'"),
    )
});

/// [`JOBS`] with its placeholders bound to `$now` and `$tag_due`.
pub(super) fn jobs_sql(now: &str, tag_due: &str) -> String {
    JOBS.replace("{now}", now).replace("{tag_due}", tag_due)
}

/// The passive reply of a linked event `l` (with its code's `g` and activity's `aa`):
/// the effective actions' reply when they are triggered by its kind.
pub(super) fn reply_sql() -> String {
    format!(
        "CASE WHEN g.actions IS NOT NULL OR g.reply IS NOT NULL \
            THEN CASE WHEN g.actions_on IS NULL OR {own} THEN g.reply END \
            ELSE CASE WHEN {activity} THEN aa.action_reply END END",
        own = triggered("g.actions_on", "l.kind"),
        activity = triggered("aa.actions_on", "l.kind"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::link::literal;
    use super::*;

    #[test]
    fn placeholders_are_all_bound() {
        let sql = jobs_sql("$3", "$4");
        assert!(!sql.contains("{now}") && !sql.contains("{tag_due}"));
        assert!(sql.contains(r#"'{"type":"binding.bound"}'"#), "{sql}");
        assert!(sql.contains(&literal(EventKind::Unsubscribe)));
    }
}
