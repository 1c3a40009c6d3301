//! `hookpost recover`: asks a running server to attempt once more every failed delivery
//! of a hook published in a window, then follows the recovery with a progress bar until
//! it is finished (or `--wait` runs out).

use std::io::Write;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Target, call};
use crate::domain::timestamp::Timestamp;

/// How often the progress is read.
const POLL: Duration = Duration::from_millis(500);

/// Which hook, as its API path: `/repos/o/r/hooks/3`, `/orgs/o/hooks/3`.
pub struct HookPath(pub String);

/// `--since`/`--until`: an ISO 8601 time, or a duration back from `now` (`24h`, `7days`).
///
/// # Errors
/// When the text is neither.
pub fn parse_instant(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Some(instant) = Timestamp::parse(text) {
        return Ok(instant);
    }
    let ago = humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is neither an ISO 8601 time nor a duration such as 24h"))?;
    Ok(Timestamp(now.0.saturating_sub(
        i64::try_from(ago.as_millis()).unwrap_or(i64::MAX),
    )))
}

/// `[#####.....] 412/1000` with the outcome so far.
fn progress_line(recovery: &Value) -> String {
    const WIDTH: u64 = 30;
    let queued = recovery["queued"].as_u64().unwrap_or(0);
    let done = recovery["done"].as_u64().unwrap_or(0);
    let filled = (done * WIDTH).checked_div(queued).unwrap_or(WIDTH);
    format!(
        "[{}{}] {done}/{queued} attempted: {} succeeded, {} failed",
        "#".repeat(usize::try_from(filled).unwrap_or(0)),
        ".".repeat(usize::try_from(WIDTH - filled.min(WIDTH)).unwrap_or(0)),
        recovery["succeeded"],
        recovery["failed"],
    )
}

/// Starts the recovery and follows it for at most `wait`; prints the final state as JSON.
///
/// # Errors
/// When the server refuses the recovery (another one runs: 409), cannot be reached, or the
/// recovery is still running after `wait`.
pub async fn run(
    target: &Target,
    hook: &HookPath,
    since: Timestamp,
    until: Option<Timestamp>,
    wait: Duration,
) -> anyhow::Result<()> {
    let client = super::http_client();
    let mut body = json!({"since": since.to_precise()});
    if let Some(until) = until {
        body["until"] = json!(until.to_precise());
    }
    let started = call(
        &client,
        target,
        Method::POST,
        &format!("{}/deliveries/recover", hook.0),
        Some(&body),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let url = format!("{}/recoveries/{}", hook.0, started["id"]);
    let deadline = Instant::now() + wait;
    let mut recovery = started;
    let mut stderr = std::io::stderr();
    loop {
        let _ = write!(stderr, "\r{}", progress_line(&recovery));
        let _ = stderr.flush();
        if recovery["state"] != "running" {
            break;
        }
        if Instant::now() >= deadline {
            let _ = writeln!(stderr);
            anyhow::bail!("recovery {} is still running", recovery["id"]);
        }
        tokio::time::sleep(POLL).await;
        recovery = call(&client, target, Method::GET, &url, None)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let _ = writeln!(stderr);
    println!("{recovery}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_time_or_a_duration_back() {
        let now = Timestamp(1_800_000_000_000);
        assert_eq!(parse_instant("24h", now), Ok(Timestamp(now.0 - 86_400_000)));
        assert_eq!(
            parse_instant("2027-01-15T08:00:00Z", now),
            Ok(Timestamp::parse("2027-01-15T08:00:00Z").unwrap())
        );
        assert!(parse_instant("last week", now).is_err());
    }

    #[test]
    fn the_bar_fills_as_deliveries_are_attempted() {
        let line = |queued: u64, done: u64| {
            progress_line(&json!({"queued": queued, "done": done, "succeeded": done, "failed": 0}))
        };
        assert!(line(1000, 0).starts_with(&format!("[{}]", ".".repeat(30))));
        assert!(line(1000, 500).starts_with(&format!("[{}{}]", "#".repeat(15), ".".repeat(15))));
        assert!(
            line(0, 0).starts_with(&format!("[{}]", "#".repeat(30))),
            "nothing to do is done"
        );
        assert!(line(10, 10).contains("10/10 attempted: 10 succeeded, 0 failed"));
    }
}
