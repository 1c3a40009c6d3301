//! Planner statistics of the tables that grow, taken by the nodes themselves when the tables
//! have changed a lot since they were last taken.
//!
//! PostgreSQL plans from statistics that autovacuum refreshes; where it is off, plans made
//! while the queue was small (a sequential scan of `deliveries` to update a few rows by id)
//! are kept as it grows, and every claim and record then reads the whole table. Analyzing
//! only what changed by a fifth since, as autovacuum would, costs little where it is on.

use deadpool_postgres::GenericClient;

use super::all;
use crate::store::StoreError;

/// The tables whose plans depend on their size: the queue and the delivery log.
const GROWING: [&str; 3] = ["deliveries", "events", "attempts"];

/// Analyzes each [`GROWING`] table with more rows changed since its statistics were taken
/// than 1,000 and a fifth of its rows; returns how many it analyzed.
pub(super) async fn refresh(db: &impl GenericClient) -> Result<usize, StoreError> {
    let stale = all(
        db,
        "SELECT relname::text FROM pg_stat_user_tables
         WHERE schemaname = current_schema() AND relname = ANY($1)
           AND n_mod_since_analyze > 1000 + n_live_tup / 5",
        &[&GROWING.as_slice()],
    )
    .await?;
    let mut analyzed = 0;
    for row in stale {
        let table: String = row.try_get(0)?;
        // Only names of the list above reach the statement.
        if let Some(table) = GROWING.iter().find(|known| **known == table) {
            db.batch_execute(&format!("ANALYZE {table}")).await?;
            analyzed += 1;
        }
    }
    Ok(analyzed)
}
