//! Log lines about attempts that went wrong, at most [`LINES_PER_WINDOW`] per
//! [`WINDOW`]: an operator sees each failure while failures are few, and a flood of them
//! (a receiver down under a busy forge) cannot fill a disk; a summary line then says how
//! many lines were left out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a window of log lines lasts.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Lines about attempts written per window; the rest are counted.
pub const LINES_PER_WINDOW: u32 = 20;

/// The count of lines written and left out in the current window.
pub struct OutcomeLog {
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
}

impl Default for OutcomeLog {
    fn default() -> Self {
        OutcomeLog {
            window: Mutex::new(Window {
                started: Instant::now(),
                written: 0,
                suppressed: 0,
            }),
        }
    }
}

impl OutcomeLog {
    /// Whether a line may be written at `now`; counts it either way. A window that ended
    /// is closed first (see [`OutcomeLog::close_window`]).
    pub fn admit(&self, now: Instant) -> bool {
        self.close_window(now);
        let mut window = self.window.lock().expect("never poisoned");
        if window.written < LINES_PER_WINDOW {
            window.written += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }

    /// Starts a new window when the current one has ended, writing the summary of the
    /// lines it left out (if any).
    pub fn close_window(&self, now: Instant) {
        let suppressed = {
            let mut window = self.window.lock().expect("never poisoned");
            if now.duration_since(window.started) < WINDOW {
                return;
            }
            let suppressed = window.suppressed;
            *window = Window {
                started: now,
                written: 0,
                suppressed: 0,
            };
            suppressed
        };
        if suppressed > 0 {
            tracing::info!(
                suppressed,
                "{suppressed} more lines about failed attempts were left out in the last {} s",
                WINDOW.as_secs()
            );
        }
    }

    /// When the current window ends: the moment to write its summary, so that it follows
    /// the window's last lines by at most [`WINDOW`] even when no attempt comes after them.
    pub fn window_ends(&self) -> Instant {
        self.window.lock().expect("never poisoned").started + WINDOW
    }

    /// What the current window has left out so far (for tests).
    pub fn suppressed(&self) -> u64 {
        self.window.lock().expect("never poisoned").suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_share_and_counts_the_rest_until_the_next() {
        let log = OutcomeLog::default();
        let start = Instant::now();
        let admitted = (0..100).filter(|_| log.admit(start)).count();
        assert_eq!(admitted, LINES_PER_WINDOW as usize);
        assert_eq!(log.suppressed(), 100 - u64::from(LINES_PER_WINDOW));
        log.close_window(start + WINDOW / 2);
        assert!(!log.admit(start + WINDOW / 2), "the same window");
        log.close_window(start + WINDOW);
        assert_eq!(log.suppressed(), 0, "a new window");
        assert!(log.admit(start + WINDOW));
    }

    #[test]
    fn a_window_closed_late_ends_a_whole_window_after_it_was_opened() {
        let log = OutcomeLog::default();
        let late = log.window_ends() + WINDOW / 3;
        log.close_window(late);
        assert_eq!(log.window_ends(), late + WINDOW);
    }
}
