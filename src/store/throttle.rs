//! Rate limits in a claim, the same on every backend: each rate-limited hook's claimed
//! deliveries take their slots with one update of the hook's row (so nodes sharing a
//! database never hand out the same slot), those whose slot is later than now are put off
//! to it, and they keep it: claimed again, they start without taking another.
//!
//! A put-off delivery goes back to the store rather than wait in memory, so waiting for a
//! hook's limit never holds an attempt slot or memory that other hooks could use.

use std::collections::{HashMap, VecDeque};

use crate::domain::rate::RateLimit;
use crate::domain::timestamp::Timestamp;
use crate::store::{ClaimedDelivery, DeliveryId, HookId};

/// Put-off deliveries come due on this grid: a few claims a second for a busy limited hook
/// instead of one per slot, and never before their slot.
const DUE_GRID_MS: i64 = 50;

/// When a delivery put off to `slot` is due: the slot, rounded up to [`DUE_GRID_MS`].
fn due_for(slot: Timestamp) -> Timestamp {
    Timestamp((slot.0 + DUE_GRID_MS - 1).div_euclid(DUE_GRID_MS) * DUE_GRID_MS)
}

/// The slots one hook's claimed deliveries need.
pub(crate) struct SlotsNeeded {
    pub(crate) hook_id: HookId,
    pub(crate) limit: RateLimit,
    pub(crate) count: u32,
}

impl SlotsNeeded {
    /// The hook's TAT moves on by this many microseconds.
    pub(crate) fn span_us(&self) -> i64 {
        i64::from(self.count) * self.limit.interval_us()
    }
}

/// Which rate-limited hooks' deliveries in `deliveries` still need slots (those put off
/// before have theirs), in hook order, so that nodes lock hook rows in one order.
pub(crate) fn slots_needed(deliveries: &[ClaimedDelivery]) -> Vec<SlotsNeeded> {
    let mut needed: HashMap<HookId, SlotsNeeded> = HashMap::new();
    for delivery in deliveries {
        let Some(limit) = delivery.target.config.rate_limit else {
            continue;
        };
        if delivery.throttled_at.is_some() {
            continue;
        }
        needed
            .entry(delivery.target.hook_id)
            .or_insert(SlotsNeeded {
                hook_id: delivery.target.hook_id,
                limit,
                count: 0,
            })
            .count += 1;
    }
    let mut needed: Vec<SlotsNeeded> = needed.into_values().collect();
    needed.sort_unstable_by_key(|slots| slots.hook_id);
    needed
}

/// Splits a claim: the deliveries that may start now, and those put off to their slot.
/// `advanced` is each hook's TAT after its slots were taken (as the store returned it).
pub(crate) fn split(
    deliveries: Vec<ClaimedDelivery>,
    needed: &[SlotsNeeded],
    advanced: &HashMap<HookId, i64>,
    now: Timestamp,
) -> (Vec<ClaimedDelivery>, Vec<(DeliveryId, Timestamp)>) {
    let mut slots: HashMap<HookId, VecDeque<Timestamp>> = needed
        .iter()
        .filter_map(|need| {
            let tat = advanced.get(&need.hook_id)?;
            Some((need.hook_id, need.limit.slots(*tat, now, need.count).into()))
        })
        .collect();
    let mut ready = Vec::with_capacity(deliveries.len());
    let mut put_off = Vec::new();
    for delivery in deliveries {
        let slot = match slots.get_mut(&delivery.target.hook_id) {
            Some(slots) if delivery.throttled_at.is_none() => slots.pop_front(),
            _ => None,
        };
        match slot {
            Some(slot) if slot > now => put_off.push((delivery.id, due_for(slot))),
            _ => ready.push(delivery),
        }
    }
    (ready, put_off)
}
