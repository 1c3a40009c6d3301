//! `hookpost publish`: one event from a file or standard input, or many from an NDJSON file
//! with a progress bar. Each record is published whole or not at all; a bad record is
//! reported with its line number and the others still go.

use std::sync::Arc;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Target, call};

/// Records in flight at once during an NDJSON import.
const IN_FLIGHT: usize = 16;

/// Publishes `body` (a `{"event", "repository"|"organization", "payload"}` object); returns
/// the server's answer, or its error message.
async fn send(client: &reqwest::Client, target: &Target, body: &Value) -> Result<Value, String> {
    call(client, target, Method::POST, "/events", Some(body)).await
}

/// Publishes one event whose payload is `payload_text`; prints the server's answer.
///
/// # Errors
/// When the payload is not JSON or the server refuses it.
pub async fn publish_one(
    target: &Target,
    event: &str,
    repository: Option<&str>,
    organization: Option<&str>,
    payload_text: &str,
) -> anyhow::Result<()> {
    let payload: Value = serde_json::from_str(payload_text).context("The payload is not JSON")?;
    let mut body = json!({"event": event, "payload": payload});
    if let Some(repository) = repository {
        body["repository"] = json!(repository);
    }
    if let Some(organization) = organization {
        body["organization"] = json!(organization);
    }
    let answer = send(&super::http_client(), target, &body)
        .await
        .map_err(|message| anyhow::anyhow!("The server refused the event: {message}"))?;
    println!("{answer}");
    Ok(())
}

/// What an NDJSON import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub published: u64,
    pub deliveries: u64,
    /// `(line number, why)` of every record not published.
    pub refused: Vec<(usize, String)>,
}

/// Publishes every line of `ndjson`; prints each refusal and a final summary.
pub async fn publish_ndjson(target: &Target, ndjson: &str) -> ImportSummary {
    let client = super::http_client();
    let target = Arc::new(Target {
        server: target.server.clone(),
        token: target.token.clone(),
    });
    let records: Vec<(usize, &str)> = ndjson
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .collect();
    let progress = indicatif::ProgressBar::new(records.len() as u64);
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut summary = ImportSummary::default();
    let mut tasks = JoinSet::new();
    for (line_number, line) in records {
        let body: Value = match serde_json::from_str(line) {
            Ok(body @ Value::Object(_)) => body,
            Ok(_) => {
                summary
                    .refused
                    .push((line_number, "not a JSON object".to_owned()));
                progress.inc(1);
                continue;
            }
            Err(error) => {
                summary
                    .refused
                    .push((line_number, format!("not JSON: {error}")));
                progress.inc(1);
                continue;
            }
        };
        let (client, target, slots) = (client.clone(), target.clone(), slots.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("never closed");
            (line_number, send(&client, &target, &body).await)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (line_number, outcome) = done.expect("a publish task does not panic");
        match outcome {
            Ok(answer) => {
                summary.published += 1;
                summary.deliveries += answer["deliveries"].as_u64().unwrap_or(0);
            }
            Err(message) => summary.refused.push((line_number, message)),
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    summary.refused.sort_by_key(|(line, _)| *line);
    for (line, why) in &summary.refused {
        eprintln!("line {line}: {why}");
    }
    println!(
        "published {} ({} queued); {} refused",
        counted(summary.published, "event", "events"),
        counted(summary.deliveries, "delivery", "deliveries"),
        counted(summary.refused.len() as u64, "line", "lines"),
    );
    summary
}

/// `n` and the noun for it: `1 event`, `2 events`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
