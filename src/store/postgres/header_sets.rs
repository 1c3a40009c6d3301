//! Request-header templates on PostgreSQL (`store::header_sets`): finding, touching and
//! storing those an attempt batch uses, and this process's memory of the ones it found.
//!
//! Most batches use templates seen a moment ago, so the look-up of each batch (a statement,
//! and a plan, per attempt at a trickle of events) is answered from memory instead while
//! the template's `used_at` is younger than [`header_sets::TOUCH_EVERY_MS`]: retention
//! keeps every template used that recently (and an hour more, for clocks), so the id
//! remembered is still stored.

use std::collections::HashMap;
use std::sync::Mutex;

use deadpool_postgres::GenericClient;

use super::{all, exec};
use crate::domain::timestamp::Timestamp;
use crate::store::StoreError;
use crate::store::columns::corrupt;
use crate::store::header_sets::{self, SplitHeaders};

/// Templates remembered at most; beyond, memory starts again (each hook and event type
/// has one or a few, so this is room for thousands of busy hooks).
const REMEMBERED: usize = 4096;

/// A template's id and the `used_at` it had when read.
type Stored = (i64, i64);

/// Templates this process read from the database, with the `used_at` they were read with.
/// Only rows read (committed, and so not undone by a batch that rolls back later) are
/// remembered; a template stored or touched by a batch is read again the next time.
#[derive(Default)]
pub(super) struct KnownHeaderSets(Mutex<HashMap<[u8; 32], Stored>>);

impl KnownHeaderSets {
    /// Those of `digests` remembered and used within the touch interval before `now`.
    fn fresh(&self, digests: &[&[u8; 32]], now: Timestamp) -> HashMap<[u8; 32], Stored> {
        let known = self.0.lock().expect("not poisoned");
        digests
            .iter()
            .filter_map(|digest| {
                let stored = known.get(*digest)?;
                (stored.1 >= now.0 - header_sets::TOUCH_EVERY_MS).then_some((**digest, *stored))
            })
            .collect()
    }

    fn remember(&self, read: &HashMap<[u8; 32], Stored>) {
        let mut known = self.0.lock().expect("not poisoned");
        if known.len() + read.len() > REMEMBERED {
            known.clear();
        }
        known.extend(read.iter().map(|(digest, stored)| (*digest, *stored)));
    }
}

/// The stored templates of `digests`: id and `used_at` by digest.
async fn find(
    db: &impl GenericClient,
    digests: &[&[u8]],
) -> Result<HashMap<[u8; 32], Stored>, StoreError> {
    let rows = all(
        db,
        "SELECT digest, id, used_at FROM header_sets WHERE digest = ANY($1)",
        &[&digests],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let digest: &[u8] = row.try_get(0)?;
            let digest = <[u8; 32]>::try_from(digest).map_err(|_| corrupt("header set digest"))?;
            Ok((digest, (row.try_get(1)?, row.try_get(2)?)))
        })
        .collect()
}

/// The ids of the stored templates of `split`, used `now`, by digest: those not stored yet
/// are stored first (another node storing the same one meanwhile is waited for, then
/// found), and the use of those last used over [`header_sets::TOUCH_EVERY_MS`] ago is
/// noted first (one that retention deleted meanwhile is stored again). Those `known`
/// remembers as used within that interval cost no statement.
pub(super) async fn header_set_ids(
    db: &impl GenericClient,
    split: &[SplitHeaders],
    now: Timestamp,
    known: &KnownHeaderSets,
) -> Result<HashMap<[u8; 32], i64>, StoreError> {
    let mut templates: HashMap<[u8; 32], &str> = HashMap::new();
    for headers in split {
        templates.insert(headers.digest, &headers.template);
    }
    let wanted: Vec<&[u8; 32]> = templates.keys().collect();
    let mut found = known.fresh(&wanted, now);
    let unknown: Vec<&[u8]> = wanted
        .iter()
        .filter(|digest| !found.contains_key(**digest))
        .map(|digest| &digest[..])
        .collect();
    if !unknown.is_empty() {
        let read = find(db, &unknown).await?;
        known.remember(&read);
        found.extend(read);
    }
    // Rows are locked and inserted in one order (ids, digests), so that two nodes recording
    // the same new templates at once wait for each other rather than deadlock.
    let mut stale: Vec<i64> = found
        .values()
        .filter(|(_, used_at)| *used_at < now.0 - header_sets::TOUCH_EVERY_MS)
        .map(|(id, _)| *id)
        .collect();
    stale.sort_unstable();
    if !stale.is_empty() {
        let touched: Vec<i64> = all(
            db,
            "UPDATE header_sets SET used_at = greatest(used_at, $2) WHERE id = ANY($1)
             RETURNING id",
            &[&stale, &now.0],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        found.retain(|_, (id, _)| !stale.contains(id) || touched.contains(id));
    }
    let mut missing: Vec<&[u8; 32]> = templates
        .keys()
        .filter(|d| !found.contains_key(*d))
        .collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        let digests: Vec<&[u8]> = missing.iter().map(|digest| &digest[..]).collect();
        let texts: Vec<&str> = missing.iter().map(|digest| templates[*digest]).collect();
        exec(
            db,
            "INSERT INTO header_sets (digest, template, used_at)
             SELECT digest, template, $3 FROM unnest($1::bytea[], $2::text[]) AS t(digest, template)
             ON CONFLICT (digest) DO NOTHING",
            &[&digests, &texts, &now.0],
        )
        .await?;
        found.extend(find(db, &digests).await?);
    }
    Ok(found
        .into_iter()
        .map(|(digest, (id, _))| (digest, id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_answered_from_memory_only_while_its_use_is_recent() {
        let known = KnownHeaderSets::default();
        let (recent, old, unseen) = ([1; 32], [2; 32], [3; 32]);
        let now = Timestamp(10 * header_sets::TOUCH_EVERY_MS);
        known.remember(&HashMap::from([
            (recent, (7, now.0 - header_sets::TOUCH_EVERY_MS)),
            (old, (8, now.0 - header_sets::TOUCH_EVERY_MS - 1)),
        ]));
        let fresh = known.fresh(&[&recent, &old, &unseen], now);
        assert_eq!(
            fresh,
            HashMap::from([(recent, (7, now.0 - header_sets::TOUCH_EVERY_MS))])
        );
    }

    #[test]
    fn memory_is_bounded() {
        let known = KnownHeaderSets::default();
        let now = Timestamp(0);
        for n in 0..REMEMBERED + 10 {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&n.to_le_bytes());
            known.remember(&HashMap::from([(digest, (1, now.0))]));
        }
        assert!(known.0.lock().unwrap().len() <= REMEMBERED);
    }
}
