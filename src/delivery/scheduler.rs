//! Fair scheduling of claimed deliveries: which attempt starts next, and which deliveries go
//! back to the store to wait there instead of in memory.
//!
//! Two rules keep one receiver's or one tenant's trouble its own:
//! - A *destination* (the resolved address and port) has at most `per_destination` attempts
//!   in flight, and keeps waiting in memory only what it is expected to start within
//!   [`LINE_HORIZON`], judged by how long its attempts take (or the oldest one has been
//!   running). The rest is handed back to the store, due again when the destination is
//!   expected to have room, so a receiver that hangs never fills the worker's memory bound
//!   and never stops the claims that bring other destinations' work.
//! - Attempt slots (`concurrency`) go to the tenant with the fewest attempts in flight, and
//!   no tenant holds more than three quarters of them: an attempt cannot be preempted, so
//!   the reserve is what lets another tenant start within one attempt's time however many
//!   slow destinations one tenant has.
//!
//! The state is plain data (no I/O, no clock of its own), so tests drive it with instants
//! of their choosing.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How far ahead a destination's waiting line may reach.
pub const LINE_HORIZON: Duration = Duration::from_secs(1);
/// The shortest wait of a delivery handed back to the store.
pub const MIN_DEFER: Duration = Duration::from_secs(1);
/// The longest: a destination that recovers is tried again within it.
pub const MAX_DEFER: Duration = Duration::from_secs(60);

/// When a busy destination's hook backlog comes due again, from now, given the longest wait
/// of what was handed back: spread over as long again as that wait (at least
/// [`MIN_DEFER`], ending by [`MAX_DEFER`] unless the wait itself reaches it). A destination
/// that is merely full gets its backlog back within seconds; one that hangs, whose waits
/// are long, within the minute.
pub fn backlog_window(wait: Duration) -> (Duration, Duration) {
    (wait, (wait * 2).min(MAX_DEFER).max(wait + MIN_DEFER))
}

/// The bounds the scheduler keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts in flight over every destination.
    pub concurrency: usize,
    /// Attempts in flight to one destination.
    pub per_destination: usize,
    /// Deliveries in memory, waiting or in flight.
    pub held: usize,
}

impl Limits {
    /// The most attempts one tenant may have in flight.
    fn per_tenant(&self) -> usize {
        (self.concurrency * 3 / 4).max(1)
    }
}

/// An attempt the caller may start now; hand `destination`, `tenant` and `started` back to
/// [`Scheduler::finished`] when it ends.
#[derive(Debug)]
pub struct Start<D, K, T> {
    pub destination: D,
    pub tenant: K,
    pub item: T,
    pub started: Instant,
}

/// A delivery handed back, to be due again after `wait`.
pub type Deferred<T> = (T, Duration);

pub struct Scheduler<D, K, T> {
    limits: Limits,
    destinations: HashMap<D, Destination<K, T>>,
    /// Attempts in flight per tenant (tenants with none are removed).
    tenants: HashMap<K, usize>,
    in_flight: usize,
    /// Waiting or in flight.
    held: usize,
}

struct Destination<K, T> {
    waiting: VecDeque<(K, T)>,
    /// When each attempt in flight started.
    started: Vec<Instant>,
    /// Moving average of finished attempts' durations.
    average: Option<Duration>,
    /// When the deliveries handed back so far are expected to find a slot.
    free_from: Option<Instant>,
    /// Deliveries handed back beyond [`MAX_DEFER`], to spread their returns.
    overflow: u64,
}

impl<K, T> Destination<K, T> {
    fn new() -> Self {
        Destination {
            waiting: VecDeque::new(),
            started: Vec::new(),
            average: None,
            free_from: None,
            overflow: 0,
        }
    }

    /// Nothing to remember: no work, and nothing handed back that is still to come.
    fn idle(&self, now: Instant) -> bool {
        self.waiting.is_empty()
            && self.started.is_empty()
            && self.free_from.is_none_or(|at| at <= now)
    }

    /// How long an attempt here is expected to take: the average so far, or longer if one
    /// in flight has already run longer; `None` while nothing is known.
    fn expected_attempt(&self, now: Instant) -> Option<Duration> {
        let oldest = self
            .started
            .iter()
            .map(|started| now.saturating_duration_since(*started))
            .max();
        match (self.average, oldest) {
            (None, None) => None,
            (average, oldest) => Some(average.unwrap_or_default().max(oldest.unwrap_or_default())),
        }
    }

    /// How many deliveries may wait here: what it can start within [`LINE_HORIZON`] beyond
    /// its free slots, at least one.
    fn line(&self, limits: &Limits, now: Instant) -> usize {
        let free = limits.per_destination.saturating_sub(self.started.len());
        let ahead = match self.expected_attempt(now) {
            Some(expected) if !expected.is_zero() => {
                let rounds = LINE_HORIZON.as_secs_f64() / expected.as_secs_f64();
                ((limits.per_destination as f64 * rounds) as usize).max(1)
            }
            _ => limits.held,
        };
        (free + ahead).min(limits.held)
    }

    /// How long a delivery handed back now should wait: each one after the last, at the
    /// pace the destination is expected to start attempts, within the defer bounds.
    fn defer(&mut self, limits: &Limits, now: Instant) -> Duration {
        let expected = self.expected_attempt(now).unwrap_or(MIN_DEFER);
        let pace = expected / u32::try_from(limits.per_destination.max(1)).unwrap_or(u32::MAX);
        let from = self.free_from.filter(|at| *at > now).unwrap_or(now);
        let free_at = from + pace;
        self.free_from = Some(free_at);
        let wait = free_at - now;
        if wait <= MAX_DEFER {
            return wait.max(MIN_DEFER);
        }
        // Past the horizon: spread returns over the second half of it (golden-ratio steps),
        // so that a large backlog does not come back due all at once.
        self.overflow += 1;
        let fraction = (self.overflow as f64 * 0.618_033_988_75).fract();
        MAX_DEFER.mul_f64(0.5 + fraction / 2.0)
    }
}

impl<D: Hash + Eq + Clone, K: Hash + Eq + Clone, T> Scheduler<D, K, T> {
    pub fn new(limits: Limits) -> Self {
        Scheduler {
            limits: Limits {
                concurrency: limits.concurrency.max(1),
                per_destination: limits.per_destination.max(1),
                held: limits.held.max(1),
            },
            destinations: HashMap::new(),
            tenants: HashMap::new(),
            in_flight: 0,
            held: 0,
        }
    }

    /// How many more deliveries may be held.
    pub fn room(&self) -> usize {
        self.limits.held.saturating_sub(self.held)
    }

    /// Whether any delivery waits in memory for a slot.
    pub fn has_waiting(&self) -> bool {
        self.held > self.in_flight
    }

    /// Queues `item` for `destination`, or hands it back with how long it should wait when
    /// the destination already holds what it can start soon (or the memory bound is met).
    ///
    /// # Errors
    /// The item itself, deferred.
    pub fn offer(
        &mut self,
        destination: D,
        tenant: K,
        item: T,
        now: Instant,
    ) -> Result<(), Deferred<T>> {
        let limits = self.limits;
        let room = self.room();
        let entry = self
            .destinations
            .entry(destination)
            .or_insert_with(Destination::new);
        if room == 0 || entry.waiting.len() >= entry.line(&limits, now) {
            return Err((item, entry.defer(&limits, now)));
        }
        entry.waiting.push_back((tenant, item));
        self.held += 1;
        Ok(())
    }

    /// The next attempt to start: a waiting delivery whose destination has a free slot,
    /// of the tenant with the fewest attempts in flight, while a slot is free overall.
    pub fn next(&mut self, now: Instant) -> Option<Start<D, K, T>> {
        if self.in_flight >= self.limits.concurrency {
            return None;
        }
        let per_tenant = self.limits.per_tenant();
        let mut best: Option<(&D, usize)> = None;
        for (key, destination) in &self.destinations {
            if destination.started.len() >= self.limits.per_destination {
                continue;
            }
            let Some((tenant, _)) = destination.waiting.front() else {
                continue;
            };
            let running = self.tenants.get(tenant).copied().unwrap_or(0);
            if running < per_tenant && best.is_none_or(|(_, least)| running < least) {
                best = Some((key, running));
            }
        }
        let key = best?.0.clone();
        let destination = self.destinations.get_mut(&key)?;
        let (tenant, item) = destination.waiting.pop_front()?;
        destination.started.push(now);
        *self.tenants.entry(tenant.clone()).or_default() += 1;
        self.in_flight += 1;
        Some(Start {
            destination: key,
            tenant,
            item,
            started: now,
        })
    }

    /// Ends an attempt that [`Scheduler::next`] started.
    pub fn finished(&mut self, destination: &D, tenant: &K, started: Instant, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.held = self.held.saturating_sub(1);
        if let Some(running) = self.tenants.get_mut(tenant) {
            *running -= 1;
            if *running == 0 {
                self.tenants.remove(tenant);
            }
        }
        let Some(entry) = self.destinations.get_mut(destination) else {
            return;
        };
        if let Some(position) = entry.started.iter().position(|at| *at == started) {
            entry.started.swap_remove(position);
        }
        let took = now.saturating_duration_since(started);
        entry.average = Some(match entry.average {
            None => took,
            Some(average) => average.mul_f64(0.8) + took.mul_f64(0.2),
        });
        if entry.idle(now) {
            self.destinations.remove(destination);
        }
    }

    /// Hands back what destinations can no longer expect to start soon: their attempts
    /// turned out slower than when those deliveries were queued.
    pub fn evict(&mut self, now: Instant) -> Vec<Deferred<T>> {
        let limits = self.limits;
        let mut handed_back = Vec::new();
        for destination in self.destinations.values_mut() {
            let line = destination.line(&limits, now);
            while destination.waiting.len() > line {
                let Some((_, item)) = destination.waiting.pop_back() else {
                    break;
                };
                let wait = destination.defer(&limits, now);
                handed_back.push((item, wait));
            }
        }
        self.held -= handed_back.len();
        self.destinations
            .retain(|_, destination| !destination.idle(now));
        handed_back
    }

    /// Every delivery still waiting (shutdown hands them back).
    pub fn drain(&mut self) -> Vec<T> {
        let mut waiting = Vec::new();
        for destination in self.destinations.values_mut() {
            waiting.extend(destination.waiting.drain(..).map(|(_, item)| item));
        }
        self.held -= waiting.len();
        self.destinations
            .retain(|_, destination| !destination.started.is_empty());
        waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_destinations_backlog_comes_back_within_seconds_a_hanging_ones_within_the_minute() {
        let seconds = Duration::from_secs;
        // Full, with fast attempts: handed back for the least wait.
        assert_eq!(backlog_window(seconds(1)), (seconds(1), seconds(2)));
        assert_eq!(backlog_window(seconds(5)), (seconds(5), seconds(10)));
        // Hanging: waits of tens of seconds, spread up to the minute.
        assert_eq!(backlog_window(seconds(40)), (seconds(40), MAX_DEFER));
        assert_eq!(
            backlog_window(MAX_DEFER),
            (MAX_DEFER, MAX_DEFER + MIN_DEFER)
        );
    }

    fn limits(concurrency: usize, per_destination: usize, held: usize) -> Limits {
        Limits {
            concurrency,
            per_destination,
            held,
        }
    }

    type Test = Scheduler<&'static str, &'static str, u32>;

    #[test]
    fn a_hanging_destination_keeps_only_a_short_line_and_hands_back_the_rest() {
        let t0 = Instant::now();
        let mut scheduler = Test::new(limits(8, 2, 100));
        for item in 0..4 {
            scheduler.offer("blackhole", "a", item, t0).unwrap();
        }
        let first = scheduler.next(t0).unwrap();
        let second = scheduler.next(t0).unwrap();
        assert_eq!((first.item, second.item), (0, 1));
        assert!(scheduler.next(t0).is_none(), "two slots per destination");

        // Ten seconds on, both attempts still hang: one second ahead is a fifth of a round.
        let later = t0 + Duration::from_secs(10);
        let back = scheduler.evict(later);
        assert_eq!(back.iter().map(|(item, _)| *item).collect::<Vec<_>>(), [3]);
        assert!(back[0].1 >= MIN_DEFER);
        let refused = scheduler.offer("blackhole", "a", 4, later).unwrap_err();
        assert_eq!(refused.0, 4);
        assert!(
            refused.1 > back[0].1,
            "each one handed back waits after the last"
        );

        // Another destination still gets its work in and started.
        scheduler.offer("healthy", "b", 9, later).unwrap();
        assert_eq!(scheduler.next(later).unwrap().item, 9);
    }

    #[test]
    fn handed_back_deliveries_come_back_spread_within_the_longest_wait() {
        let t0 = Instant::now();
        let mut scheduler = Test::new(limits(8, 1, 10));
        scheduler.offer("blackhole", "a", 0, t0).unwrap();
        let start = scheduler.next(t0).unwrap();
        let later = t0 + Duration::from_secs(30);
        let waits: Vec<Duration> = (1..200)
            .filter_map(|item| scheduler.offer("blackhole", "a", item, later).err())
            .map(|(_, wait)| wait)
            .collect();
        assert!(waits.len() >= 198);
        assert!(
            waits
                .iter()
                .all(|wait| *wait >= MIN_DEFER && *wait <= MAX_DEFER)
        );
        let late: Vec<&Duration> = waits.iter().filter(|w| **w >= MAX_DEFER / 2).collect();
        assert!(late.len() > 150, "most of a long backlog waits long");
        let mut distinct: Vec<u128> = late.iter().map(|wait| wait.as_millis()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 100, "and comes back spread out");
        scheduler.finished(&start.destination, &start.tenant, start.started, later);
    }

    #[test]
    fn slots_go_to_the_tenant_with_the_fewest_in_flight_and_none_takes_them_all() {
        let t0 = Instant::now();
        let mut scheduler = Test::new(limits(4, 4, 100));
        for item in 0..8 {
            let destination = ["a1", "a2"][item as usize % 2];
            scheduler.offer(destination, "a", item, t0).unwrap();
        }
        let started: Vec<Start<_, _, _>> = std::iter::from_fn(|| scheduler.next(t0)).collect();
        assert_eq!(
            started.len(),
            3,
            "three quarters of four slots for one tenant"
        );

        scheduler.offer("b1", "b", 100, t0).unwrap();
        scheduler.offer("b1", "b", 101, t0).unwrap();
        let next = scheduler.next(t0).unwrap();
        assert_eq!(next.item, 100, "the reserve is another tenant's");
        assert!(scheduler.next(t0).is_none(), "every slot is busy");

        let done = &started[0];
        scheduler.finished(&done.destination, &done.tenant, done.started, t0);
        assert_eq!(
            scheduler.next(t0).unwrap().item,
            101,
            "a freed slot goes to the tenant with fewer in flight"
        );
    }

    #[test]
    fn a_healthy_destination_may_use_the_whole_memory_bound() {
        let t0 = Instant::now();
        let mut scheduler = Test::new(limits(256, 64, 1024));
        for item in 0..64 {
            scheduler.offer("fast", "a", item, t0).unwrap();
        }
        let running: Vec<Start<_, _, _>> = std::iter::from_fn(|| scheduler.next(t0)).collect();
        let done = t0 + Duration::from_millis(5);
        for start in running {
            scheduler.finished(&start.destination, &start.tenant, start.started, done);
        }
        for item in 0..1024 {
            scheduler.offer("fast", "a", item, done).unwrap();
        }
        assert_eq!(scheduler.room(), 0);
        assert!(scheduler.evict(done).is_empty());
        assert_eq!(scheduler.drain().len(), 1024);
        assert_eq!(scheduler.room(), 1024);
    }
}
