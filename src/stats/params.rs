//! SQL parameters bound as they are pushed: each value gets the next `$n` (Postgres and
//! SQLite both read it), so statements put together from pieces never number by hand.
//!
//! A binder rather than sea-query's builder: the statistics are CTEs, lateral probes and
//! grouping sets that sea-query would only hold as custom SQL text anyway.

use std::fmt;

use sea_orm::{DbBackend, Statement, Value};

/// The placeholder of one bound value; formats as `$n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Param(usize);

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

/// The values of one statement, in placeholder order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<Value>);

impl Params {
    /// No values yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Binds `value` and hands out its placeholder (use it as often as needed).
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> Param {
        self.0.push(value.into());
        Param(self.0.len())
    }

    /// The statement `sql` with these values.
    pub(crate) fn statement(self, backend: DbBackend, sql: impl Into<String>) -> Statement {
        Statement::from_sql_and_values(backend, sql, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_values() {
        let mut params = Params::new();
        let (a, b) = (params.bind(1_i64), params.bind("x"));
        let sql = format!("SELECT {a}, {b}, {a}");
        assert_eq!(sql, "SELECT $1, $2, $1");
        let statement = params.statement(DbBackend::Postgres, sql);
        assert_eq!(statement.values.map(|v| v.0.len()), Some(2));
    }
}
