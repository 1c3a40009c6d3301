//! The `floor` scenario: what this machine charges, at an offered rate, for the least a
//! durable webhook server must do per event, measured without any server. Each event costs
//! at least one synced write (whose thread is woken when the publish arrives and again when
//! the sync completes) and one more wake-up when the receiver answers; at a rate too low
//! for writes to share a sync, nothing amortises them. Comparing a run's CPU per delivery
//! with this floor tells what is left to cut and what no design can cut on this machine.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// CPU time of the calling thread so far, from the scheduler's own accounting (`schedstat`
/// counts nanoseconds; `stat` counts 10 ms ticks, too coarse for a few hundred wake-ups).
fn thread_cpu() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("the floor scenario reads /proc/thread-self/schedstat (Linux)");
    let nanos = schedstat
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("schedstat starts with the thread's CPU time in ns");
    Duration::from_nanos(nanos)
}

/// Runs `each` once per tick of `rate` per second, `count` times, on a thread of its own
/// that sleeps between ticks as a server waiting for the next event does; returns that
/// thread's CPU per tick.
fn per_tick(rate: u64, count: u64, mut each: impl FnMut() + Send) -> Duration {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let period = Duration::from_secs_f64(1.0 / rate as f64);
                let started = Instant::now();
                let before = thread_cpu();
                for tick in 1..=count {
                    each();
                    let next = started + period.mul_f64(tick as f64);
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                (thread_cpu() - before).div_f64(count as f64)
            })
            .join()
            .expect("the measuring thread does not panic")
    })
}

/// A thread woken by another at each tick, as a worker is woken by the thread that
/// received a request: the woken thread's CPU per wake-up (the waker's is a timer wake-up).
fn handed_over(rate: u64, count: u64) -> Duration {
    let (hand, take) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let woken = scope.spawn(move || {
            let before = thread_cpu();
            let mut woken = 0u64;
            while take.recv().is_ok() {
                woken += 1;
            }
            (thread_cpu() - before).div_f64(woken.max(1) as f64)
        });
        per_tick(rate, count, || {
            hand.send(())
                .expect("the woken thread waits until the sender is dropped");
        });
        drop(hand);
        woken.join().expect("the woken thread does not panic")
    })
}

/// Prints the floor at `rate` events per second for `seconds`, with writes of
/// `payload_bytes` synced to a file in the temporary directory (where the benchmark's
/// SQLite servers keep their data).
pub fn report(rate: u64, seconds: u64, payload_bytes: usize) {
    let count = rate * seconds;
    let wake = per_tick(rate, count, || {});
    let handed = handed_over(rate, count);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut file = File::create(dir.path().join("floor")).expect("a file in it");
    let payload = vec![b'x'; payload_bytes];
    let synced = per_tick(rate, count, || {
        file.write_all(&payload).expect("the write");
        // `fsync`, as SQLite calls it.
        file.sync_all().expect("the sync");
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("scenario: floor, {rate} ticks/s for {seconds} s, {payload_bytes}-byte writes");
    println!(
        "a thread woken by its timer: {:.3} ms CPU per wake-up",
        ms(wake)
    );
    println!(
        "a thread woken by another thread: {:.3} ms CPU per wake-up",
        ms(handed)
    );
    println!(
        "an appended write synced to disk, with its timer wake-up: {:.3} ms CPU",
        ms(synced)
    );
    // The publish's arrival is the synced write's timer wake-up; the receiver's answer
    // wakes a thread once more.
    println!(
        "floor of a durable server, per event at this rate (one synced write, one more wake-up, no parsing, no database): {:.3} ms CPU",
        ms(synced + handed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threads_cpu_time_counts_its_own_work_only() {
        let before = thread_cpu();
        // Sleeping costs next to nothing; spinning costs what it spins.
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu() - before;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            std::hint::spin_loop();
        }
        let spun = thread_cpu() - before - slept;
        assert!(slept < Duration::from_millis(10), "sleeping cost {slept:?}");
        assert!(spun > slept, "spinning cost {spun:?}, sleeping {slept:?}");
    }
}
