//! [`Columns`] for SQLite's rows, so that the shared row → record rules read them.

use rusqlite::Row;
use rusqlite::types::Type;

use crate::store::columns::Columns;

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }

    fn opt_int(&self, index: usize) -> rusqlite::Result<Option<i64>> {
        self.get(index)
    }

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }

    fn opt_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }

    fn boolean(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }

    fn corrupt(&self, index: usize, why: String) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, why.into())
    }
}
