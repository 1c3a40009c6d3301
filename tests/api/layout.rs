//! Every page of the web UI in real Chromium, at a phone's width (390 px) and a desktop's
//! (1280 px): no horizontal scroll, no two visible text boxes overlapping, no text cut off
//! by its box. Screenshots of each go to `target/ui-screenshots/`.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, spawn_delivering_app};
use crate::receiver::{Behaviour, TestReceiver};
use crate::ui::Chromium;

/// Run in the page: what is wrong with its layout, one line per problem (at most 20).
const LAYOUT_PROBLEMS: &str = r#"
const problems = [];
const width = window.innerWidth;
const root = document.documentElement;
if (root.scrollWidth > width) {
  problems.push(`horizontal scroll: the page is ${root.scrollWidth} px wide in ${width}`);
}
const describe = (el) => {
  const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
  return `<${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className).split(' ').join('.') : ''}> "${text}"`;
};
const boxes = [];
for (const el of document.body.querySelectorAll('*')) {
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || style.display === 'none' || style.opacity === '0') continue;
  if (el.closest('details:not([open]) > :not(summary)')) continue;
  const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!ownText) continue;
  // One box per line an inline element spans: its bounding box would cover the start of
  // the line it begins on.
  const rects = [...el.getClientRects()].filter((r) => r.width >= 1 && r.height >= 1);
  if (rects.length === 0) continue;
  const clips = ['hidden', 'clip'].includes(style.overflowX) || style.textOverflow === 'ellipsis';
  if (clips && el.scrollWidth > el.clientWidth + 1) problems.push(`text cut off: ${describe(el)}`);
  if (rects.some((r) => r.right > width + 1)) problems.push(`text past the right edge: ${describe(el)}`);
  boxes.push([el, rects]);
}
const overlap = (ra, rb) =>
  Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left) > 2 &&
  Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top) > 2;
for (let i = 0; i < boxes.length; i++) {
  for (let j = i + 1; j < boxes.length; j++) {
    const [a, ras] = boxes[i];
    const [b, rbs] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    if (ras.some((ra) => rbs.some((rb) => overlap(ra, rb)))) {
      problems.push(`overlap: ${describe(a)} and ${describe(b)}`);
    }
  }
}
return problems.slice(0, 20);
"#;

/// Loads `path`, waits for `ready`, and checks its layout at both widths; returns the
/// problems found, prefixed with the page's name and width.
pub async fn check(
    browser: &Chromium,
    origin: &str,
    name: &str,
    path: &str,
    ready: &str,
) -> Vec<String> {
    let web = &browser.client;
    let mut found = Vec::new();
    for (width, height) in [(390, 844), (1280, 900)] {
        web.set_window_size(width, height).await.unwrap();
        web.goto(&format!("{origin}{path}")).await.unwrap();
        browser.wait_for(ready).await;
        if name == "delivery-open" {
            browser.click("#delivery-list li.delivery summary").await;
            browser.wait_for("details[open] pre.payload").await;
        }
        // The page's own width, not the window's (which counts the browser's frame).
        let problems = web.execute(LAYOUT_PROBLEMS, vec![]).await.unwrap();
        browser.screenshot(&format!("layout-{name}-{width}")).await;
        for problem in problems.as_array().cloned().unwrap_or_default() {
            found.push(format!(
                "{name} at {width} px: {}",
                problem.as_str().unwrap_or("?")
            ));
        }
    }
    found
}

async fn every_page_fits_a_phone_and_a_desktop_without_overlaps_or_cut_text() {
    let browser = Chromium::start().await;
    let app = spawn_delivering_app(|config| {
        config.delivery.retry_schedule = "none".parse().unwrap();
    })
    .await;
    let origin = format!("http://{}", app.address);
    let receiver = TestReceiver::start().await;
    // A hook with a long URL and many events, a few deliveries (one failed), an app.
    let long_url = format!(
        "{}?team=payments-and-billing-platform&environment=production-europe-west",
        receiver.url
    );
    let events: Vec<Value> = [
        "push",
        "pull_request",
        "issues",
        "issue_comment",
        "release",
        "deployment",
        "deployment_status",
        "workflow_run",
        "check_suite",
        "repository",
    ]
    .into_iter()
    .map(Value::from)
    .collect();
    let hook = app
        .create_hook(
            "/repos/acme-corporation/widgets-and-gadgets-service/hooks",
            ADMIN_TOKEN,
            &json!({"events": events, "config": {"url": long_url, "content_type": "json",
                    "rate_limit": 50, "ordering": "fifo"}}),
        )
        .await;
    receiver.next_of("ping").await;
    for n in 0..3 {
        app.publish(
            "push",
            "acme-corporation/widgets-and-gadgets-service",
            json!({"ref": "refs/heads/a-rather-long-branch-name-for-a-feature", "n": n}),
        )
        .await;
        receiver.next_of("push").await;
    }
    receiver.set(Behaviour::Status(500));
    app.publish(
        "issues",
        "acme-corporation/widgets-and-gadgets-service",
        json!({"action": "opened"}),
    )
    .await;
    receiver.next_of("issues").await;
    let created = app
        .post(
            "/admin/apps",
            ADMIN_TOKEN,
            &json!({"name": "Continuous Integration Reporter", "events": ["push"],
                    "hook": {"url": receiver.url}}),
        )
        .await;
    assert_eq!(
        created.status,
        reqwest::StatusCode::CREATED,
        "{}",
        created.body
    );

    let hook_page = format!(
        "/ui/repos/acme-corporation/widgets-and-gadgets-service/hooks/{}",
        hook["id"]
    );
    let mut problems = check(&browser, &origin, "sign-in", "/ui/login", "input#token").await;
    browser.type_into("input#token", ADMIN_TOKEN).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for("ul.hooks").await;
    for (name, path, ready) in [
        ("overview", "/ui".to_owned(), "ul.hooks"),
        ("new-hook", "/ui/hooks/new".to_owned(), "form.settings"),
        ("hook", hook_page.clone(), "#delivery-list"),
        ("delivery-open", hook_page.clone(), "#delivery-list"),
        (
            "hook-failed",
            format!("{hook_page}?filter=failed"),
            "#delivery-list",
        ),
        ("delete", format!("{hook_page}/delete"), "form"),
        ("tokens", "/ui/admin/tokens".to_owned(), "form"),
        ("apps", "/ui/admin/apps".to_owned(), "table"),
        ("not-found", "/ui/no/such/page".to_owned(), "h1"),
    ] {
        problems.extend(check(&browser, &origin, name, &path, ready).await);
    }
    browser.close().await;
    assert!(
        problems.is_empty(),
        "layout problems:\n{}",
        problems.join("\n")
    );
}

crate::harness::tests!(
    ;
    Browser every_page_fits_a_phone_and_a_desktop_without_overlaps_or_cut_text,
);
