//! [`Columns`] for PostgreSQL's rows, so that the shared row → record rules read them.

use tokio_postgres::Row;

use crate::store::StoreError;
use crate::store::columns::Columns;

impl Columns for Row {
    type Error = StoreError;

    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn boolean(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn corrupt(&self, index: usize, why: String) -> StoreError {
        StoreError::Corrupt(format!("column {index}: {why}"))
    }
}
