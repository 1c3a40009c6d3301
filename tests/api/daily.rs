//! The daily page, in real Chromium: one step for each thing a person who uses GitHub's
//! webhook pages every day found wrong with ours (issue "The daily page", its "Why"), each
//! named in a comment where it is checked.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, spawn_delivering_app};
use crate::receiver::{Behaviour, TestReceiver};
use crate::ui::Chromium;

/// Signs in through the sign-in page.
async fn sign_in(browser: &Chromium, origin: &str, token: &str) {
    browser
        .client
        .goto(&format!("{origin}/ui/login"))
        .await
        .unwrap();
    browser.type_into("input#token", token).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for("header.top nav").await;
}

/// Runs `script` (a function body) in the page and returns what it returns.
async fn run(browser: &Chromium, script: &str) -> Value {
    browser.client.execute(script, vec![]).await.unwrap()
}

/// Whether the element `css` names is shown.
async fn shown(browser: &Chromium, css: &str) -> bool {
    match browser.client.find(Locator::Css(css)).await {
        Ok(element) => element.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

/// The value of the form field `css` names.
async fn value(browser: &Chromium, css: &str) -> String {
    let script = format!("return document.querySelector({css:?}).value;");
    run(browser, &script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Where the problem saying `message` is shown relative to the field `field`: "beside"
/// when it is just under it (and, if `in_view`, on the screen), else what is wrong.
async fn problem_place(browser: &Chromium, field: &str, message: &str, in_view: bool) -> String {
    let script = format!(
        "const field = document.querySelector({field:?}).getBoundingClientRect();
         const problem = [...document.querySelectorAll('.field-error')]
           .find((p) => p.textContent.includes({message:?}));
         if (!problem) return 'not shown';
         const at = problem.getBoundingClientRect();
         if (at.top < field.bottom - 1 || at.top - field.bottom > 60) return `${{at.top - field.bottom}} px from its field`;
         if ({in_view} && (at.bottom > window.innerHeight || at.top < 0)) return 'off the screen';
         return 'beside';"
    );
    run(browser, &script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Clicks the button of the form posting to an address ending in `action`.
async fn submit(browser: &Chromium, action: &str) {
    browser
        .click(&format!("form[action$='{action}'] button[type=submit]"))
        .await;
}

/// On a hook page: opens Settings, ticks or unticks the checkbox `css` names, and saves.
async fn toggle_in_settings(browser: &Chromium, css: &str) {
    browser.click("nav.tabs a[href='#settings']").await;
    browser.click(css).await;
    browser
        .click("#settings form.settings button[type=submit]")
        .await;
}

/// The path (and query) of the page the browser shows.
async fn here(browser: &Chromium) -> String {
    let url = browser.client.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn in_chromium_forms_keep_what_was_typed_and_every_action_says_what_it_did() {
    let browser = Chromium::start().await;
    let app = spawn_delivering_app(|_| {}).await;
    let origin = format!("http://{}", app.address);
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    sign_in(&browser, &origin, &token).await;
    let web = &browser.client;

    // Why: "A form error wipes what was typed (URL, events, secret, headers)"; "A hook with
    // zero events is accepted"; "a URL with a space is saved".
    web.goto(&format!("{origin}/ui/hooks/new")).await.unwrap();
    browser.type_into("input#target", "acme/widgets").await;
    let spaced = format!("{}/a path with spaces", receiver.url);
    browser.type_into("input#url", &spaced).await;
    browser.type_into("input#secret", "typed-secret-1").await;
    browser
        .type_into("textarea#headers", "X-Team: payments")
        .await;
    run(
        &browser,
        "for (const box of document.querySelectorAll('input[name=events]')) box.checked = false;",
    )
    .await;
    browser.click("form.settings button[type=submit]").await;
    browser.wait_for(".field-error").await;
    assert_eq!(
        problem_place(&browser, "#url", "spaces", true).await,
        "beside",
        "the URL's problem"
    );
    assert_eq!(
        problem_place(&browser, "#other_events", "at least one event", false).await,
        "beside",
        "the events' problem"
    );
    assert_eq!(value(&browser, "#target").await, "acme/widgets");
    assert_eq!(value(&browser, "#url").await, spaced);
    assert_eq!(value(&browser, "#secret").await, "typed-secret-1");
    assert_eq!(value(&browser, "#headers").await, "X-Team: payments");
    let hooks = app.get("/repos/acme/widgets/hooks", &token).await;
    assert_eq!(hooks.body, json!([]), "nothing was saved");

    // Mended, the same form saves; the page says so once (Why: "No feedback after create").
    let url = browser.wait_for("input#url").await;
    url.clear().await.unwrap();
    url.send_keys(&receiver.url).await.unwrap();
    browser.click("input#event_push").await;
    browser.click("form.settings button[type=submit]").await;
    browser.wait_for_text("#done", "Webhook created").await;
    let ping = receiver.next_of("ping").await;
    assert!(
        ping.header("x-hub-signature-256").is_some(),
        "signed with the secret the refused form kept"
    );
    assert_eq!(ping.header("x-team"), Some("payments"));
    let hook_page = here(&browser).await;

    // Why: "No feedback after … update, … ping".
    toggle_in_settings(&browser, "input#event_issues").await;
    browser.wait_for_text("#done", "Webhook updated").await;
    submit(&browser, "/ping").await;
    browser.wait_for_text("#done", "Ping sent").await;
    receiver.next_of("ping").await;
    assert!(!here(&browser).await.contains("done="), "said once");

    // Why: "pinging an inactive hook silently does nothing; the hook page doesn't say the
    // hook is inactive".
    toggle_in_settings(&browser, "input#active").await;
    browser.wait_for_text("#inactive", "inactive").await;
    submit(&browser, "/ping").await;
    browser.wait_for_text("main", "not pinged").await;
    // An error page keeps the navigation (Why: "error pages lose the navigation").
    assert!(shown(&browser, "header.top nav a[href='/ui']").await);
    assert_eq!(receiver.pending().await, 0, "nothing was sent");

    // Why: "No feedback after … delete".
    web.goto(&format!("{origin}{hook_page}")).await.unwrap();
    browser.click("nav.tabs a[href='#settings']").await;
    browser.click("a.danger[href$='/delete']").await;
    submit(&browser, "/delete").await;
    browser.wait_for_text("#done", "Webhook deleted").await;
    browser.screenshot("daily-forms").await;
    browser.close().await;
}

/// The hook page's row of the attempt `nth` (0: newest) of the delivery `guid`.
fn attempt_row(guid: &str, nth: usize) -> String {
    format!(
        "#delivery-list li.group[data-guid='{guid}'] li.delivery:nth-child({})",
        nth + 1
    )
}

/// Opens the row `row` names and its Response tab, and waits for `text` in the tab's
/// `part`; returns the tab's label.
async fn response_shows(browser: &Chromium, row: &str, part: &str, text: &str) -> String {
    browser.click(&format!("{row} summary")).await;
    let tab = format!("{row} [role=tab][aria-controls^='res-']");
    browser.click(&tab).await;
    browser.wait_for_text(&format!("{row} {part}"), text).await;
    browser.text(&tab).await
}

/// How many attempts the hook page at `url` lists.
async fn rows_listed(browser: &Chromium, url: &str) -> Value {
    browser.client.goto(url).await.unwrap();
    browser.wait_for("#delivery-list").await;
    run(
        browser,
        "return document.querySelectorAll('#delivery-list li.delivery').length;",
    )
    .await
}

async fn in_chromium_the_log_groups_attempts_explains_them_and_pages_with_counts() {
    let browser = Chromium::start().await;
    let app = spawn_delivering_app(|config| {
        config.delivery.delivery_timeout = Duration::from_secs(1);
    })
    .await;
    let origin = format!("http://{}", app.address);
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"events": ["push"],
                    "config": {"url": receiver.url, "retry_schedule": "1s"}}),
        )
        .await;
    receiver.next_of("ping").await;
    let page = format!("{origin}/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    sign_in(&browser, &origin, &token).await;
    let web = &browser.client;

    // Why: "the Failed filter with no match says 'No deliveries yet'".
    web.goto(&format!("{page}?filter=failed")).await.unwrap();
    browser
        .wait_for_text("#no-deliveries", "No failed deliveries.")
        .await;

    let push = async |n: u32| {
        app.publish(
            "push",
            "acme/widgets",
            json!({"n": n, "text": "the quick brown fox jumps over the lazy dog ".repeat(30)}),
        )
        .await
    };
    // A failure, then its automatic retry succeeds.
    receiver.set(Behaviour::Status(500));
    let retried = push(0).await;
    receiver.next_of("push").await;
    receiver.set(Behaviour::Status(200));
    receiver.next_of("push").await;
    // A time-out, then a binary answer; an empty answer.
    receiver.set(Behaviour::Hang);
    let timed_out = push(1).await;
    receiver.next_of("push").await;
    receiver.set(Behaviour::Binary);
    receiver.next_of("push").await;
    receiver.set(Behaviour::Empty);
    let empty = push(2).await;
    receiver.next_of("push").await;
    // A failure whose retry is still to come (in an hour: the hook's schedule is now
    // longer).
    let patched = app
        .patch(
            &format!("/repos/acme/widgets/hooks/{}/config", hook["id"]),
            &token,
            &json!({"retry_schedule": "1h"}),
        )
        .await;
    assert_eq!(patched.status, reqwest::StatusCode::OK, "{}", patched.body);
    receiver.set(Behaviour::Status(500));
    let failing = push(3).await;
    receiver.next_of("push").await;
    web.goto(&page).await.unwrap();
    browser.wait_for("#delivery-list").await;

    // Why: "attempts of one delivery are not grouped"; "Automatic retries are flagged
    // 'redelivery' and fill the Redeliveries filter"; "no attempt number".
    let rows = format!("#delivery-list li.group[data-guid='{retried}'] li.delivery");
    let grouped = run(
        &browser,
        &format!("return document.querySelectorAll({rows:?}).length;"),
    )
    .await;
    assert_eq!(grouped, json!(2), "both attempts in one group");
    let retry_row = browser.text(&attempt_row(&retried, 0)).await;
    assert!(retry_row.contains("retry 1"), "{retry_row}");
    assert!(!retry_row.contains("redelivery"), "{retry_row}");
    // Why: "no next-retry time"; "statuses like '500 Invalid HTTP Response: 500'".
    let failing_row = browser.text(&attempt_row(&failing, 0)).await;
    assert!(failing_row.contains("next retry"), "{failing_row}");
    assert!(failing_row.contains("500 "), "{failing_row}");
    assert!(!failing_row.contains(": 500"), "{failing_row}");
    receiver.set(Behaviour::Status(200));

    // Why: "a timeout shows an empty 'Response 0' tab".
    let timeout_row = attempt_row(&timed_out, 1);
    let label = response_shows(&browser, &timeout_row, ".no-response", "No response").await;
    assert_eq!(label.trim(), "Response");
    // Why: "a binary response body shows as garbled characters".
    let binary_row = attempt_row(&timed_out, 0);
    response_shows(&browser, &binary_row, "pre.hex", "00000000  00 01 02 03").await;
    // An empty one says so.
    let empty_row = attempt_row(&empty, 0);
    response_shows(&browser, &empty_row, ".empty-body", "Empty body (0 bytes)").await;
    // Why: "No feedback after … redeliver".
    browser
        .click(&format!("{empty_row} form[action$='/attempts'] button"))
        .await;
    browser.wait_for_text("#done", "Redelivery queued").await;
    receiver.next_of("push").await;
    let redeliveries = rows_listed(&browser, &format!("{page}?filter=redeliveries")).await;
    assert_eq!(redeliveries, json!(1), "the redelivery, not the retries");
    let retries = rows_listed(&browser, &format!("{page}?filter=retries")).await;
    assert_eq!(retries, json!(2), "the two automatic retries");

    // Why: "large payloads split words mid-word" (on a phone).
    web.goto(&page).await.unwrap();
    web.set_window_size(390, 844).await.unwrap();
    browser
        .click(&format!("{} summary", attempt_row(&empty, 1)))
        .await;
    browser
        .wait_for_text(
            &format!("{} pre.payload", attempt_row(&empty, 1)),
            "lazy dog",
        )
        .await;
    let split = run(
        &browser,
        &format!(
            "const pre = document.querySelector({:?});
             const split = [];
             const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
             while (walker.nextNode()) {{
               const node = walker.currentNode;
               for (const word of node.textContent.matchAll(/[a-z]+/g)) {{
                 const range = document.createRange();
                 range.setStart(node, word.index);
                 range.setEnd(node, word.index + word[0].length);
                 const lines = [...range.getClientRects()].filter((r) => r.width > 0);
                 if (lines.length > 1) split.push(word[0]);
               }}
             }}
             return split;",
            format!("{} pre.payload", attempt_row(&empty, 1))
        ),
    )
    .await;
    assert_eq!(split, json!([]), "words split across lines");
    browser.screenshot("daily-payload-phone").await;
    web.set_window_size(1280, 900).await.unwrap();

    // Why: "only an 'Older deliveries' button (34 clicks to reach the end of 1,000
    // deliveries)": newer/older/newest/oldest, with counts.
    for n in 10..70 {
        push(n).await;
    }
    for _ in 10..70 {
        receiver.next_of("push").await;
    }
    // ping 1 + 2 + 2 + 1 + 1 + 1 redelivery + 60 = 68 attempts.
    web.goto(&page).await.unwrap();
    browser
        .wait_for_text("nav.pages .position", "Attempts 1–30 of 68")
        .await;
    assert!(!shown(&browser, "nav.pages a.newer").await, "no newer page");
    browser.click("nav.pages a.last").await;
    browser
        .wait_for_text("nav.pages .position", "Attempts 39–68 of 68")
        .await;
    browser.wait_for_text("#delivery-list .event", "ping").await;
    assert!(!shown(&browser, "nav.pages a.older").await, "no older page");
    // Why: "the chart … repeats on every older page".
    assert!(!shown(&browser, "figure.chart").await);
    browser.click("nav.pages a.newer").await;
    browser
        .wait_for_text("nav.pages .position", "Attempts 9–38 of 68")
        .await;
    browser.click("nav.pages a.older").await;
    browser
        .wait_for_text("nav.pages .position", "Attempts 39–68 of 68")
        .await;
    browser.click("nav.pages a.first").await;
    browser
        .wait_for_text("nav.pages .position", "Attempts 1–30 of 68")
        .await;
    // The grouped rows and the page links fit a phone and a desktop.
    let problems = crate::layout::check(
        &browser,
        &origin,
        "hook-grouped",
        &page[origin.len()..],
        "nav.pages",
    )
    .await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    web.goto(&page).await.unwrap();

    // Why: "the chart … has no hour labels, doesn't update live".
    let axis = browser.text("figure.chart .axis").await;
    assert!(axis.contains("24 h ago") && axis.contains("now"), "{axis}");
    let hour = run(
        &browser,
        "return document.querySelector('figure.chart g:last-of-type title').textContent;",
    )
    .await;
    assert!(
        hour.as_str().unwrap().contains("succeeded"),
        "a bar's counts on hover: {hour}"
    );
    let before = browser.text("figure.chart figcaption").await;
    run(&browser, "window.stillTheSamePage = true;").await;
    push(70).await;
    receiver.next_of("push").await;
    browser.wait_for("#delivery-list li.delivery.fresh").await;
    let mut after = before.clone();
    for _ in 0..150 {
        after = browser.text("figure.chart figcaption").await;
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(after, before, "the chart counts the new attempt");
    assert_eq!(
        run(&browser, "return window.stillTheSamePage === true;").await,
        json!(true),
        "without a reload"
    );

    // Why: "Only relative times ('1 min ago'; 'just now' never updates)".
    let title = run(
        &browser,
        "return document.querySelector('#delivery-list time.ago').title;",
    )
    .await;
    let title = title.as_str().unwrap();
    assert!(
        title.starts_with("20") && title.ends_with('Z'),
        "the absolute time as a tooltip: {title}"
    );
    // Three minutes pass (as the page's clock sees it).
    run(
        &browser,
        "const real = Date.now; Date.now = () => real() + 180000;",
    )
    .await;
    browser
        .wait_for_text("#delivery-list time.ago", "3 min ago")
        .await;
    browser.screenshot("daily-log").await;
    browser.close().await;
}

async fn in_chromium_sessions_error_pages_tokens_and_app_hooks_behave() {
    let browser = Chromium::start().await;
    let app = spawn_delivering_app(|_| {}).await;
    let origin = format!("http://{}", app.address);
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"config": {"url": receiver.url}}),
        )
        .await;
    receiver.next_of("ping").await;
    let hook_page = format!("/ui/repos/acme/widgets/hooks/{}?filter=all", hook["id"]);
    sign_in(&browser, &origin, &token).await;
    let web = &browser.client;

    // Why: "an expired session while opening a delivery renders the whole sign-in page
    // inside the row; after signing in again you land on the overview".
    web.goto(&format!("{origin}{hook_page}")).await.unwrap();
    browser.wait_for("#delivery-list li.delivery").await;
    web.delete_cookie("hookpost_session").await.unwrap();
    browser.click("#delivery-list li.delivery summary").await;
    browser
        .wait_for_text("details[open] .detail", "Your session has expired")
        .await;
    assert!(
        !shown(&browser, "details[open] input#token").await,
        "no sign-in page inside the row"
    );
    browser.click("details[open] .detail a").await;
    browser
        .wait_for_text("main", "Your session has expired")
        .await;
    browser.type_into("input#token", &token).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for("#delivery-list").await;
    assert_eq!(
        here(&browser).await,
        hook_page,
        "back where the browser was"
    );

    // Why: "an unknown /ui/… path answers the API's JSON 404; error pages lose the
    // navigation".
    for missing in ["/ui/no/such/page", "/ui/repos/acme/widgets/hooks/999999"] {
        web.goto(&format!("{origin}{missing}")).await.unwrap();
        browser.wait_for("h1").await;
        assert_eq!(
            run(&browser, "return document.contentType;").await,
            json!("text/html"),
            "{missing}"
        );
        assert!(
            shown(&browser, "header.top nav a[href='/ui']").await,
            "{missing}"
        );
    }

    // Why: "no favicon".
    let favicon = run(
        &browser,
        "const link = document.querySelector('link[rel=icon]');
         if (!link) return 'none';
         return fetch(link.href).then((r) => r.ok ? r.headers.get('content-type') : r.status);",
    )
    .await;
    assert_eq!(favicon, json!("image/svg+xml"));

    // Why: "refreshing after 'Create token' creates a second token; tokens cannot be
    // revoked in the UI".
    submit(&browser, "/ui/logout").await;
    sign_in(&browser, &origin, ADMIN_TOKEN).await;
    web.goto(&format!("{origin}/ui/admin/tokens"))
        .await
        .unwrap();
    let count_rows = "return document.querySelectorAll('#tokens tbody tr').length;";
    let tokens_before = run(&browser, count_rows).await;
    browser.type_into("input#owners", "acme").await;
    browser
        .click("form[action='/ui/admin/tokens'] button[type=submit]")
        .await;
    let created = browser.text("#new-token").await;
    assert!(!created.is_empty());
    let tokens_after = run(&browser, count_rows).await;
    assert_eq!(tokens_after.as_u64(), tokens_before.as_u64().map(|n| n + 1));
    web.refresh().await.unwrap();
    browser.wait_for("#tokens").await;
    assert_eq!(
        run(&browser, count_rows).await,
        tokens_after,
        "no second token"
    );
    assert!(!shown(&browser, "#new-token").await, "shown once");
    let owner_reply = app.get("/repos/acme/widgets/hooks", &created).await;
    assert_eq!(owner_reply.status, reqwest::StatusCode::OK);
    browser
        .click("#tokens tbody tr:last-child form[action$='/revoke'] button")
        .await;
    browser.wait_for_text("#done", "Token revoked").await;
    browser
        .wait_for_text("#tokens tbody tr:last-child", "Revoked")
        .await;

    // Why: "the app hook page says 'App 1', offers repository events and 'Delete
    // webhook'"; "the apps table breaks a client id over 4 lines" (on a phone).
    let registered = app
        .post(
            "/admin/apps",
            ADMIN_TOKEN,
            &json!({"name": "Deployer", "events": ["push"], "hook": {"url": receiver.url}}),
        )
        .await;
    assert_eq!(registered.status, reqwest::StatusCode::CREATED);
    web.set_window_size(390, 844).await.unwrap();
    web.goto(&format!("{origin}/ui/admin/apps")).await.unwrap();
    let client_id = registered.body["client_id"].as_str().unwrap().to_owned();
    let lines = run(
        &browser,
        &format!(
            "const cell = [...document.querySelectorAll('table td')]
               .find((td) => td.textContent.includes({client_id:?}));
             const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
             while (walker.nextNode()) {{
               const node = walker.currentNode;
               const at = node.textContent.indexOf({client_id:?});
               if (at < 0) continue;
               const range = document.createRange();
               range.setStart(node, at);
               range.setEnd(node, at + {});
               return [...range.getClientRects()].filter((r) => r.width > 0).length;
             }}
             return 0;",
            client_id.len()
        ),
    )
    .await;
    assert_eq!(lines, json!(1), "the client id on one line");
    web.set_window_size(1280, 900).await.unwrap();
    browser.click("table a[href^='/ui/apps/']").await;
    browser.wait_for("nav.tabs").await;
    assert!(browser.text("main").await.contains("Deployer (app)"));
    browser.click("nav.tabs a[href='#settings']").await;
    assert!(shown(&browser, "input#event_installation").await);
    assert!(
        !shown(&browser, "input#event_create").await,
        "a repository's event"
    );
    assert!(!shown(&browser, "a.danger[href$='/delete']").await);
    browser.screenshot("daily-app-hook").await;
    browser.close().await;
}

/// Why: "the chart caps counts at 5,000"; and counts "where exact counts would cost a
/// scan" are capped and said so.
async fn in_chromium_a_log_past_the_reads_caps_says_its_counts_are_capped() {
    const EVENTS: usize = 5001;
    let browser = Chromium::start().await;
    let app = std::sync::Arc::new(spawn_delivering_app(|_| {}).await);
    let origin = format!("http://{}", app.address);
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"events": ["push"], "config": {"url": receiver.url}}),
        )
        .await;
    receiver.next_of("ping").await;
    // Published 32 at a time; all of them delivered before the page is read.
    let mut publishing = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let app = app.clone();
        publishing.spawn(async move {
            for n in (worker..EVENTS).step_by(32) {
                app.publish("push", "acme/widgets", json!({"n": n})).await;
            }
        });
    }
    while let Some(done) = publishing.join_next().await {
        done.unwrap();
    }
    for _ in 0..EVENTS {
        receiver.next().await;
    }
    sign_in(&browser, &origin, &token).await;
    browser
        .client
        .goto(&format!(
            "{origin}/ui/repos/acme/widgets/hooks/{}",
            hook["id"]
        ))
        .await
        .unwrap();
    browser
        .wait_for_text(
            "figure.chart figcaption",
            "more than 5000 attempts; the newest 5000",
        )
        .await;
    browser
        .wait_for_text("nav.pages .position", "Attempts 1–30 of 1,000+")
        .await;
    browser.screenshot("daily-capped").await;
    browser.close().await;
}

crate::harness::tests!(
    ;
    Browser in_chromium_forms_keep_what_was_typed_and_every_action_says_what_it_did,
    Browser in_chromium_the_log_groups_attempts_explains_them_and_pages_with_counts,
    Browser in_chromium_sessions_error_pages_tokens_and_app_hooks_behave,
    Browser in_chromium_a_log_past_the_reads_caps_says_its_counts_are_capped,
);
