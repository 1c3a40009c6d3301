//! Publishers that keep trying until a server acknowledges each event, for tests that kill
//! servers under load: only what was acknowledged must arrive.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How long a live node may take to answer a publish: far beyond any real commit, so that a
/// hung request fails the test instead of hanging it.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Events `{"n": n}` on `acme/widgets` being published, `concurrency` at a time.
pub struct Publishers {
    tasks: JoinSet<()>,
    acknowledged: Arc<Mutex<HashSet<String>>>,
}

impl Publishers {
    /// Publishes push events `0..count` with `token`; attempt `a` of event `n` goes to
    /// `events_url(n, a)`. An event not acknowledged within 30 s fails the test.
    pub fn start(
        client: &reqwest::Client,
        token: &'static str,
        count: usize,
        concurrency: usize,
        events_url: impl Fn(usize, usize) -> String + Send + Sync + 'static,
    ) -> Publishers {
        let events_url = Arc::new(events_url);
        let acknowledged = Arc::new(Mutex::new(HashSet::new()));
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut tasks = JoinSet::new();
        for n in 0..count {
            let (client, acknowledged, slots, events_url) = (
                client.clone(),
                acknowledged.clone(),
                slots.clone(),
                events_url.clone(),
            );
            tasks.spawn(async move {
                let _slot = slots.acquire().await.unwrap();
                for attempt in 0..600 {
                    let sent = client
                        .post(events_url(n, attempt))
                        .bearer_auth(token)
                        .json(&json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}}))
                        .timeout(ANSWER_WITHIN)
                        .send()
                        .await;
                    // A killed node refuses or resets; a live one that never answers is a bug.
                    if let Err(error) = &sent
                        && error.is_timeout()
                    {
                        panic!("event {n}: a live node gave no answer in {ANSWER_WITHIN:?}");
                    }
                    if let Ok(response) = sent
                        && response.status() == StatusCode::ACCEPTED
                    {
                        let body: Value = response.json().await.unwrap();
                        let guid = body["id"].as_str().unwrap().to_owned();
                        acknowledged.lock().unwrap().insert(guid);
                        return;
                    }
                    // That server is down (killed, restarting): back off and try again.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("event {n} was never acknowledged");
            });
        }
        Publishers {
            tasks,
            acknowledged,
        }
    }

    /// Waits for every event to be acknowledged; returns their guids.
    pub async fn finish(mut self) -> HashSet<String> {
        while let Some(done) = self.tasks.join_next().await {
            done.unwrap();
        }
        std::mem::take(&mut *self.acknowledged.lock().unwrap())
    }
}
