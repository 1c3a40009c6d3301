//! The web UI: tenancy and CSRF over plain HTTP, and the whole flow in a real headless
//! Chromium (Debian's `chromium` and `chromium-driver`, driven over WebDriver), which also
//! saves screenshots at desktop and phone widths under `target/ui-screenshots/`.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::apps::{as_app, install, octokit_jwt, register};
use crate::helpers::{
    ADMIN_TOKEN, TestApp, hook_body, spawn_app, spawn_app_with, spawn_delivering_app,
    spawn_stepped_app,
};
use crate::receiver::TestReceiver;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `value` of the first input named `name` in `page`.
fn field_value(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).expect("the field is on the page") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// A browser-like HTTP client: no redirects followed, the session cookie sent by hand.
struct Browser {
    client: reqwest::Client,
    origin: String,
    cookie: String,
}

impl Browser {
    async fn sign_in(app: &TestApp, token: &str) -> Browser {
        let response = Browser::post_login(app, token, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        Browser {
            client: no_redirects(),
            origin: format!("http://{}", app.address),
            cookie: set_cookie.split(';').next().unwrap().to_owned(),
        }
    }

    /// Loads the sign-in form and posts it with `token` (and `headers`), as a browser does.
    async fn post_login(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let client = no_redirects();
        let origin = format!("http://{}", app.address);
        let form = client
            .get(format!("{origin}/ui/login"))
            .send()
            .await
            .unwrap();
        let cookie = form.headers()[SET_COOKIE].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let csrf = field_value(&form.text().await.unwrap(), "_csrf");
        let mut request = client
            .post(format!("{origin}/ui/login"))
            .header(COOKIE, cookie)
            .form(&[("token", token), ("_csrf", &csrf)]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.origin))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.origin))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Follows the redirect after "Create token" as a browser does, with the cookie that
    /// carries the new token; returns the token the page shows, once (the page clears it).
    async fn follow_new_token(&self, created: reqwest::Response) -> String {
        assert_eq!(created.status(), StatusCode::SEE_OTHER, "post/redirect/get");
        assert_eq!(created.headers()["location"], "/ui/admin/tokens");
        let carried = created.headers()[SET_COOKIE].to_str().unwrap();
        let carried = carried.split(';').next().unwrap().to_owned();
        let response = self
            .client
            .get(format!("{}/ui/admin/tokens", self.origin))
            .header(COOKIE, format!("{}; {carried}", self.cookie))
            .send()
            .await
            .unwrap();
        let cleared = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cleared.contains("Max-Age=0"), "shown once: {cleared}");
        shown_token(&response.text().await.unwrap())
    }

    /// The session's CSRF token, as every page's forms carry it.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/ui").await;
        let start = page
            .find(r#"name="_csrf" value=""#)
            .expect("a form with a CSRF field")
            + r#"name="_csrf" value=""#.len();
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    }
}

async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let browser = Browser::sign_in(&app, &token).await;
    let form = [
        ("target", "acme/widgets"),
        ("url", "http://a.example/hook"),
        ("events", "push"),
        ("active", "1"),
    ];
    let refused = browser.post("/ui/hooks/new", &form).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Nor can another site's form sign a browser in: the sign-in form's token is checked
    // against a SameSite=Strict cookie such a form cannot send.
    let forged_login = no_redirects()
        .post(format!("{}/ui/login", browser.origin))
        .form(&[("token", token.as_str()), ("_csrf", "guessed")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_login.status(), StatusCode::FORBIDDEN);
    assert!(forged_login.headers().get(SET_COOKIE).is_none());
    let forged = [form.as_slice(), &[("_csrf", "not-the-token")]].concat();
    let refused = browser.post("/ui/hooks/new", &forged).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let hooks = app.get("/repos/acme/widgets/hooks", ADMIN_TOKEN).await;
    assert_eq!(hooks.body, json!([]), "nothing was created");

    // The same form with the session's token goes through.
    let csrf = browser.csrf().await;
    let signed = [form.as_slice(), &[("_csrf", csrf.as_str())]].concat();
    let created = browser.post("/ui/hooks/new", &signed).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let hooks = app.get("/repos/acme/widgets/hooks", ADMIN_TOKEN).await;
    assert_eq!(hooks.body[0]["config"]["url"], "http://a.example/hook");

    // Signing out ends the session: the cookie no longer opens anything.
    let out = browser
        .post("/ui/logout", &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let response = browser
        .client
        .get(format!("{}/ui", browser.origin))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with("/ui/login?"), "{location}");
}

async fn an_owner_sees_nothing_of_another_owners_hooks_in_the_ui() {
    let app = spawn_app().await;
    let acme = app.owner_token(&["acme"]).await;
    let globex = app.owner_token(&["globex"]).await;
    app.create_hook(
        "/repos/acme/widgets/hooks",
        &acme,
        &hook_body("http://acme.example/hook"),
    )
    .await;
    let theirs = app
        .create_hook(
            "/orgs/globex/hooks",
            &globex,
            &hook_body("http://globex.example/secret-hook"),
        )
        .await;
    let browser = Browser::sign_in(&app, &acme).await;
    let (status, overview) = browser.get("/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(overview.contains("http://acme.example/hook"));
    assert!(!overview.contains("globex"), "{overview}");

    let their_page = format!("/ui/orgs/globex/hooks/{}", theirs["id"]);
    for path in [
        their_page.clone(),
        format!("{their_page}/deliveries/1"),
        format!("{their_page}/live"),
        format!("{their_page}/delete"),
        "/ui/admin/tokens".to_owned(),
        "/ui/admin/apps".to_owned(),
    ] {
        let (status, page) = browser.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("secret-hook"), "{path}");
    }
    let csrf = browser.csrf().await;
    for action in ["/ping", "/delete", ""] {
        let response = browser
            .post(
                &format!("{their_page}{action}"),
                &[("_csrf", &csrf), ("url", "http://x.example/")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let still = app.get("/orgs/globex/hooks", &globex).await;
    assert_eq!(
        still.body[0]["config"]["url"],
        "http://globex.example/secret-hook"
    );
    // A bad token gets no session at all.
    let response = Browser::post_login(&app, "hp_not_a_token", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(!cookie.contains("hookpost_session"), "{cookie}");
}

/// The text of the first `<pre class="payload">` of a page, unescaped.
fn first_payload(page: &str) -> String {
    let open = page.find(r#"<pre class="payload""#).expect("a payload");
    let start = open + page[open..].find('>').unwrap() + 1;
    let end = start + page[start..].find("</pre>").unwrap();
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

async fn an_app_hooks_attempt_shows_the_payload_its_receiver_got_as_the_api_does() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let registered = register(&app, "Deployer", json!(["issues"]), &receiver.url).await;
    app.deliver_due().await;
    receiver.next_of("ping").await;
    install(&app, &registered, "acme").await;
    app.publish("issues", "acme/widgets", json!({"action": "opened"}))
        .await;
    app.deliver_due().await;
    let got = receiver.next_of("issues").await;
    let received: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert!(received["installation"]["id"].is_i64(), "{received}");

    let jwt = octokit_jwt(&registered.pem, json!(registered.id));
    let (_, log) = as_app(&app, "/app/hook/deliveries", &jwt).await;
    let attempt = log[0]["id"].as_i64().unwrap();
    let (_, detail) = as_app(&app, &format!("/app/hook/deliveries/{attempt}"), &jwt).await;
    assert_eq!(detail["request"]["payload"], received);

    let browser = Browser::sign_in(&app, ADMIN_TOKEN).await;
    let (_, apps_page) = browser.get("/ui/admin/apps").await;
    let prefix = format!("/ui/apps/{}/hooks/", registered.id);
    let start = apps_page.find(&prefix).expect("a link to the app's hook");
    let hook_page = &apps_page[start..start + apps_page[start..].find('"').unwrap()];
    let (status, fragment) = browser
        .get(&format!("{hook_page}/deliveries/{attempt}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let shown: serde_json::Value = serde_json::from_str(&first_payload(&fragment)).unwrap();
    assert_eq!(shown, detail["request"]["payload"]);

    // The app's webhook page is named after the app, offers the app's events, and has no
    // "Delete webhook" (an app's webhook goes with its app).
    let (_, page) = browser.get(hook_page).await;
    assert!(page.contains("Deployer (app)"), "{page}");
    assert!(!page.contains("App 1"));
    assert!(page.contains(r#"value="installation""#), "the app's events");
    assert!(!page.contains("Delete webhook"));
    let (status, _) = browser.get(&format!("{hook_page}/delete")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// `chromedriver` on a free port with a headless Chromium session (the harness has made
/// sure Debian's packages are installed, or reported the test as ignored).
pub struct Chromium {
    driver: tokio::process::Child,
    /// The process group of chromedriver and the browsers it starts.
    group: Option<u32>,
    pub client: Client,
}

impl Chromium {
    pub async fn start() -> Chromium {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that the browsers it starts go with it (see Drop).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        for _ in 0..100 {
            let connected = ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            if let Ok(client) = connected {
                let group = driver.id();
                return Chromium {
                    driver,
                    group,
                    client,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up");
    }

    pub async fn screenshot(&self, name: &str) {
        let directory =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&directory).unwrap();
        let backend = format!("{:?}", crate::BACKEND).to_lowercase();
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(directory.join(format!("{backend}-{name}.png")), png).unwrap();
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css} never appeared: {error}"))
    }

    /// Types `text` into the element `css` names.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css).await.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css` names.
    pub async fn click(&self, css: &str) {
        self.on_fresh_element(css, async |element| element.click().await.map(drop))
            .await;
    }

    /// The text of the first element `css` names.
    pub async fn text(&self, css: &str) -> String {
        self.on_fresh_element(css, async |element| element.text().await)
            .await
    }

    /// Runs `act` on the element `css` names. A live page (the delivery list, the chart)
    /// may replace the element between finding it and acting on it: a stale reference
    /// is looked up again, a bounded number of times.
    async fn on_fresh_element<T>(
        &self,
        css: &str,
        act: impl AsyncFn(fantoccini::elements::Element) -> Result<T, fantoccini::error::CmdError>,
    ) -> T {
        for _ in 0..50 {
            match act(self.wait_for(css).await).await {
                Ok(value) => return value,
                Err(error) if error.is_stale_element_reference() => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(error) => panic!("{css}: {error}"),
            }
        }
        panic!("{css} kept being replaced");
    }

    /// Waits until the page says `text` somewhere inside `css`.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        for _ in 0..200 {
            let elements = self.client.find_all(Locator::Css(css)).await.unwrap();
            for element in elements {
                if element.text().await.unwrap_or_default().contains(text) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{text:?} never appeared in {css}");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// A test that fails never reaches `close`: chromedriver and every Chromium process it
/// started (its process group) are killed here, so none outlives the test.
impl Drop for Chromium {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn in_chromium_a_user_signs_in_adds_a_hook_watches_a_delivery_arrive_and_redelivers_it() {
    let browser = Chromium::start().await;
    let app = spawn_delivering_app(|_| {}).await;
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    let web = &browser.client;

    // Signing in from the root page.
    web.goto(&format!("http://{}/", app.address)).await.unwrap();
    browser
        .wait_for("input#token")
        .await
        .send_keys(&token)
        .await
        .unwrap();
    web.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for("a.button.primary")
        .await
        .click()
        .await
        .unwrap();

    // A hook on the test receiver, through the form.
    browser
        .wait_for("input#target")
        .await
        .send_keys("acme/widgets")
        .await
        .unwrap();
    browser.type_into("input#url", &receiver.url).await;
    browser.click("form.settings button[type=submit]").await;
    browser.wait_for("#delivery-list").await;
    // Post/redirect/get: the new page says what was done, once; reloading says nothing.
    browser.wait_for_text("#done", "Webhook created").await;
    let address = web.current_url().await.unwrap();
    assert!(!address.as_str().contains("done="), "{address}");
    receiver.next_of("ping").await;

    // "Recent Deliveries" and "Settings" are tabs: one shows at a time.
    let shown = async |css: &str| {
        web.find(Locator::Css(css))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    };
    assert!(shown("#deliveries").await && !shown("#settings").await);
    browser.click("nav.tabs a[href='#settings']").await;
    assert!(shown("#settings").await && !shown("#deliveries").await);
    // A refused update comes back on Settings, scrolled to the problem beside its field.
    let url = browser.wait_for("#settings input#url").await;
    url.clear().await.unwrap();
    // Valid to the browser, not to the server: http(s) only.
    url.send_keys("ftp://example.com/hook").await.unwrap();
    browser
        .click("#settings form.settings button[type=submit]")
        .await;
    browser.wait_for("#settings .field-error").await;
    assert!(shown("#settings .field-error").await);
    let in_view = web
        .execute(
            "const r = document.querySelector('#settings .field-error').getBoundingClientRect();
             return r.top >= 0 && r.bottom <= window.innerHeight;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(in_view, json!(true), "the problem is in view");
    web.goto(address.as_str()).await.unwrap();
    browser.wait_for("nav.tabs").await;
    assert!(shown("#deliveries").await);
    browser.wait_for_text("#delivery-list .event", "ping").await;

    // An event published now shows up without the page being loaded again.
    web.execute("window.stillTheSamePage = true;", vec![])
        .await
        .unwrap();
    app.publish(
        "push",
        "acme/widgets",
        json!({"ref": "refs/heads/main", "marker": "e2e-marker-4711"}),
    )
    .await;
    receiver.next_of("push").await;
    browser.wait_for_text("#delivery-list .event", "push").await;
    let same = web
        .execute("return window.stillTheSamePage === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        same,
        json!(true),
        "the delivery arrived live, not by a reload"
    );

    // Opening it shows the exact payload sent.
    // (Found and clicked in one script: the live list may re-render between two steps.)
    let opened = web
        .execute(
            "const row = [...document.querySelectorAll('#delivery-list li.delivery summary')]
               .find((summary) => summary.textContent.includes('push'));
             if (row) row.click();
             return Boolean(row);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(opened, json!(true));
    browser
        .wait_for_text("details[open] pre.payload", "e2e-marker-4711")
        .await;
    // The payload's copy button copies it (or, without a clipboard, selects it).
    browser.click("details[open] button.copy").await;
    let mut said = String::new();
    for _ in 0..50 {
        said = web
            .execute(
                "return document.querySelector('details[open] button.copy').textContent;",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if said != "Copy" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        said == "Copied" || said.starts_with("Selected"),
        "the copy button says what it did: {said:?}"
    );
    browser.screenshot("desktop").await;
    web.set_window_size(390, 844).await.unwrap();
    browser.screenshot("phone").await;
    web.set_window_size(1280, 900).await.unwrap();

    // The Response tab, by keyboard.
    let tab = browser
        .wait_for("details[open] [role=tab][aria-selected=true]")
        .await;
    tab.send_keys("\u{E014}").await.unwrap(); // ArrowRight
    browser
        .wait_for_text("details[open] [role=tab][aria-selected=true]", "Response")
        .await;

    // Redeliver: a second attempt of the same delivery appears, marked as a redelivery.
    web.find(Locator::Css("details[open] form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let again = receiver.next_of("push").await;
    assert!(
        String::from_utf8_lossy(&again.body).contains("e2e-marker-4711"),
        "the same payload again"
    );
    browser
        .wait_for_text("#delivery-list li.delivery .badge", "redelivery")
        .await;
    browser.screenshot("redelivered").await;

    // The overview lists the hook with a green dot now that deliveries succeed.
    web.goto(&format!("http://{}/ui", app.address))
        .await
        .unwrap();
    browser.wait_for("ul.hooks li .dot.ok").await;
    browser.screenshot("overview").await;
    browser.close().await;
}

/// The edit form keeps a secret when its field is left empty, and removes it only when asked.
async fn the_edit_form_keeps_the_secret_unless_told_to_remove_it() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"config": {"url": "http://a.example/hook", "secret": "s3"}}),
        )
        .await;
    let api_path = format!("/repos/acme/widgets/hooks/{}", hook["id"]);
    let page = format!("/ui{api_path}");
    let browser = Browser::sign_in(&app, &token).await;
    let (_, shown) = browser.get(&page).await;
    assert!(
        shown.contains(r#"name="remove_secret""#),
        "a control to remove it"
    );
    let csrf = browser.csrf().await;
    // The edit form as a browser posts it, with or without the "remove" box ticked.
    let edit = async |remove: bool| {
        let mut fields = vec![
            ("_csrf", csrf.as_str()),
            ("url", "http://a.example/hook"),
            ("content_type", "json"),
            ("events", "push"),
            ("secret", ""),
            ("active", "1"),
        ];
        if remove {
            fields.push(("remove_secret", "1"));
        }
        assert_eq!(
            browser.post(&page, &fields).await.status(),
            StatusCode::SEE_OTHER
        );
        app.get(&api_path, &token).await.body["config"].clone()
    };
    let kept = edit(false).await;
    assert_eq!(kept["secret"], "********", "an empty field keeps it");
    let removed = edit(true).await;
    assert!(removed.get("secret").is_none(), "{removed}");
}

/// Every UI answer forbids inline script, framing and MIME sniffing; pages are never cached
/// (nothing of a session stays in a browser after signing out); credentials in a hook's
/// headers and URL are masked on its page as in the API.
async fn ui_pages_carry_a_strict_policy_are_never_cached_and_mask_credentials() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"config": {"url": "http://robot:pa55-w0rd@a.example/hook",
                    "headers": {"Authorization": "Bearer auth-value-0", "X-API-Key": "key-value-1"}}}),
        )
        .await;
    let browser = Browser::sign_in(&app, &token).await;
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    for path in ["/ui/login", "/ui", page.as_str(), "/ui/assets/ui.js"] {
        let response = browser
            .client
            .get(format!("{}{path}", browser.origin))
            .header(COOKIE, &browser.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "default-src 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        let cache = headers["cache-control"].to_str().unwrap();
        if path.starts_with("/ui/assets/") {
            assert!(cache.starts_with("public"), "{path}: {cache}");
        } else {
            assert_eq!(cache, "no-store", "{path}");
        }
    }
    let (_, shown) = browser.get(&page).await;
    for value in ["pa55-w0rd", "auth-value-0", "key-value-1"] {
        assert!(!shown.contains(value), "{value} is on the page");
    }
    assert!(shown.contains("robot:********@a.example"));
}

/// Past `--auth-failure-limit` failures in a minute, a client address's further failed
/// authentications (API tokens, app JWTs, web sign-ins) are a `429` with `Retry-After`;
/// valid credentials from the same address are never refused.
async fn repeated_failed_authentications_are_refused_but_valid_ones_are_not() {
    let app = spawn_app_with(|config| config.auth_failure_limit = 5).await;
    let client = no_redirects();
    let api = |token: &str| {
        client
            .get(format!(
                "http://{}/api/v3/repos/acme/widgets/hooks",
                app.address
            ))
            .header("Authorization", format!("token {token}"))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(api("hp_guessed_wrong").await.unwrap().status(), 401);
    }
    let refused = api("hp_guessed_wrong").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "429", "{body}");

    assert_eq!(api(ADMIN_TOKEN).await.unwrap().status(), 200);
    let jwt = client
        .get(format!("http://{}/api/v3/app", app.address))
        .header("Authorization", "Bearer not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(jwt.status(), StatusCode::TOO_MANY_REQUESTS);
    let sign_in = Browser::post_login(&app, "hp_guessed_wrong", &[]).await;
    assert_eq!(sign_in.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(sign_in.headers().contains_key("retry-after"));
    let signed_in = Browser::post_login(&app, ADMIN_TOKEN, &[]).await;
    assert_eq!(
        signed_in.status(),
        StatusCode::SEE_OTHER,
        "a valid token signs in"
    );
}

/// The token a tokens page shows once, after "Create token".
fn shown_token(page: &str) -> String {
    let start = page
        .find(r#"id="new-token">"#)
        .expect("the new token is shown")
        + r#"id="new-token">"#.len();
    page[start..start + page[start..].find('<').unwrap()].to_owned()
}

async fn hooks_are_edited_and_deleted_and_the_admin_manages_tokens_and_sees_apps() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &hook_body("http://a.example/hook"),
        )
        .await;
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let browser = Browser::sign_in(&app, &token).await;
    let csrf = browser.csrf().await;

    // Edit: the form's fields become the API's patch, validated by the same rules.
    let edit = [
        ("_csrf", csrf.as_str()),
        ("url", "http://b.example/hook"),
        ("content_type", "json"),
        ("events", "push"),
        ("other_events", "issues, release"),
        ("headers", "X-Team: platform"),
        ("active", "1"),
    ];
    let saved = browser.post(&page, &edit).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, said) = browser
        .get(saved.headers()["location"].to_str().unwrap())
        .await;
    assert!(
        said.contains("Webhook updated."),
        "post/redirect/get with a notice"
    );
    let (_, reloaded) = browser.get(&page).await;
    assert!(!reloaded.contains("Webhook updated."), "said once");
    let stored = app
        .get(&format!("/repos/acme/widgets/hooks/{}", hook["id"]), &token)
        .await;
    assert_eq!(stored.body["config"]["url"], "http://b.example/hook");
    assert_eq!(stored.body["events"], json!(["push", "issues", "release"]));
    assert_eq!(
        stored.body["config"]["headers"],
        json!({"X-Team": "platform"})
    );
    let invalid = [
        ("_csrf", csrf.as_str()),
        ("url", "not-a-url"),
        ("events", "push"),
    ];
    let refused = browser.post(&page, &invalid).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.unwrap();
    // The problem stands under its field, not only in the list above the form.
    let url_field = refused.find(r#"id="url""#).expect("the URL field");
    let next_field = url_field + refused[url_field..].find("<label").unwrap();
    assert!(
        refused[url_field..next_field].contains("url is not a valid URL"),
        "{}",
        &refused[url_field..next_field]
    );

    // Delete asks first, then deletes.
    let (status, confirm) = browser.get(&format!("{page}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("cannot be undone"));
    let deleted = browser
        .post(&format!("{page}/delete"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let (_, said) = browser
        .get(deleted.headers()["location"].to_str().unwrap())
        .await;
    assert!(said.contains("Webhook deleted"));
    assert_eq!(browser.get(&page).await.0, StatusCode::NOT_FOUND);

    // The admin creates a token (shown once) and sees apps with their hook's page.
    let registered = app
        .post(
            "/admin/apps",
            ADMIN_TOKEN,
            &json!({"name": "UI App", "events": ["push"], "hook": {"url": "http://app.example/"}}),
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let admin = Browser::sign_in(&app, ADMIN_TOKEN).await;
    let admin_csrf = admin.csrf().await;
    let created = admin
        .post(
            "/ui/admin/tokens",
            &[
                ("_csrf", admin_csrf.as_str()),
                ("owners", "globex, initech"),
            ],
        )
        .await;
    let new_token = &admin.follow_new_token(created).await;
    assert_eq!(
        app.get("/orgs/initech/hooks", new_token).await.status,
        StatusCode::OK,
        "the token shown works"
    );
    let (_, tokens) = admin.get("/ui/admin/tokens").await;
    assert!(tokens.contains("globex, initech"));
    assert!(!tokens.contains(new_token), "shown once only");

    // A publish-only token that expires, then the first one revoked from its row.
    let created = admin
        .post(
            "/ui/admin/tokens",
            &[
                ("_csrf", admin_csrf.as_str()),
                ("owners", "globex"),
                ("scope", "publish"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    let publisher = &admin.follow_new_token(created).await;
    let refused = Browser::post_login(&app, publisher, &[]).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "publish-only: no pages"
    );
    assert!(refused.text().await.unwrap().contains("may only publish"));
    let (_, tokens) = admin.get("/ui/admin/tokens").await;
    assert!(tokens.contains("publish"));
    let owners = tokens.find("globex, initech").unwrap();
    let row = tokens[..owners].rfind("data-token-id=\"").unwrap() + "data-token-id=\"".len();
    let first_id = &tokens[row..row + tokens[row..].find('"').unwrap()];
    let revoked = admin
        .post(
            &format!("/ui/admin/tokens/{first_id}/revoke"),
            &[("_csrf", admin_csrf.as_str())],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (_, said) = admin
        .get(revoked.headers()["location"].to_str().unwrap())
        .await;
    assert!(said.contains("Token revoked"), "the action is confirmed");
    tokio::time::sleep(hookpost::auth::RECHECK_AFTER).await;
    assert_eq!(
        app.get("/orgs/initech/hooks", new_token).await.status,
        StatusCode::UNAUTHORIZED,
        "the revoked token is refused"
    );
    let (_, tokens) = admin.get("/ui/admin/tokens").await;
    assert!(tokens.contains("Revoked"));
    let (_, apps) = admin.get("/ui/admin/apps").await;
    assert!(apps.contains("UI App"));
    let link_start = apps.find("/ui/apps/").unwrap();
    let link = &apps[link_start..link_start + apps[link_start..].find('"').unwrap()];
    let (status, hook_page) = admin.get(link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hook_page.contains("http://app.example/"));
    assert_eq!(
        browser.get(link).await.0,
        StatusCode::NOT_FOUND,
        "admin only"
    );

    // Over TLS (as a proxy reports it) the session cookie is Secure.
    let response = Browser::post_login(&app, ADMIN_TOKEN, &[("X-Forwarded-Proto", "https")]).await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

/// A stepped server, acme's owner token, a receiver, and acme/widgets' hook on it whose
/// ping was delivered.
async fn a_pinged_hook(
    adjust: impl FnOnce(&mut hookpost::config::ServeConfig),
) -> (TestApp, String, TestReceiver, serde_json::Value) {
    let app = spawn_stepped_app(adjust).await;
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &hook_body(&receiver.url),
        )
        .await;
    app.deliver_due().await; // the ping
    (app, token, receiver, hook)
}

async fn recent_deliveries_filter_page_chart_and_open_into_request_and_response() {
    let (app, token, receiver, hook) = a_pinged_hook(|_| {}).await;
    // 34 pushes: every third answered 500.
    for n in 0..34 {
        receiver.set(if n % 3 == 0 {
            crate::receiver::Behaviour::Status(500)
        } else {
            crate::receiver::Behaviour::Status(200)
        });
        app.publish(
            "push",
            "acme/widgets",
            json!({"n": n, "marker": format!("m-{n}")}),
        )
        .await;
        assert_eq!(app.deliver_due().await, 1);
    }
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let browser = Browser::sign_in(&app, &token).await;
    let rows = |html: &str| html.matches(r#"<li class="delivery""#).count();

    let (status, first) = browser.get(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&first), 30, "a page of 30, newest first");
    // Relative times carry the absolute instant as a tooltip (and the script keeps them
    // current).
    assert!(
        first.contains(r#"<time class="ago" datetime="20"#) && first.contains(r#"title="20"#),
        "absolute times in tooltips"
    );
    assert!(
        first.contains("Last 24 hours: 23 succeeded, 12 failed"),
        "the chart counts the ping too"
    );
    let older = first.find("before=").expect("a link to older deliveries");
    let before: String = first[older + "before=".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let (_, second) = browser
        .get(&format!("{page}?filter=all&before={before}"))
        .await;
    assert_eq!(rows(&second), 5, "the rest: 4 pushes and the ping");
    assert!(second.contains(">ping<"));
    assert!(
        !second.contains("figure class=\"chart\""),
        "the 24-hour chart is on the first page only"
    );
    assert!(
        first.contains("<title>1–0 h ago: 23 succeeded, 12 failed</title>"),
        "each hour's bar says its counts"
    );
    assert!(
        first.contains("24 h ago") && first.contains(">now<"),
        "hour labels"
    );

    let (_, failed) = browser.get(&format!("{page}?filter=failed")).await;
    assert_eq!(rows(&failed), 12);
    assert!(!failed.contains("200 OK"));
    let (_, redeliveries) = browser.get(&format!("{page}?filter=redeliveries")).await;
    assert_eq!(rows(&redeliveries), 0);

    // The newest attempt opened: the request sent and the response received.
    let id_at = first.find(r#"data-id=""#).unwrap() + r#"data-id=""#.len();
    let newest: String = first[id_at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let (status, detail) = browser.get(&format!("{page}/deliveries/{newest}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.contains("X-GitHub-Event: push"), "{detail}");
    assert!(
        detail.contains("&quot;marker&quot;: &quot;m-33&quot;"),
        "pretty-printed payload"
    );
    assert!(detail.contains(r#"role="tab""#) && detail.contains("Redeliver"));
}

/// The log's page links are the attacker's too: a cursor that is not a number is refused,
/// one out of range shows what there is, and a guid is shown escaped and never trusted.
async fn hostile_page_cursors_are_refused_or_harmless_and_a_guid_is_escaped() {
    let (app, token, _receiver, hook) = a_pinged_hook(|_| {}).await;
    for n in 0..3 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
        app.deliver_due().await;
    }
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let browser = Browser::sign_in(&app, &token).await;
    let rows = |html: &str| html.matches(r#"<li class="delivery""#).count();
    for refused in [
        "?newer=abc",
        "?before=1e3",
        "?newer=99999999999999999999999",
        "?before=%00",
    ] {
        let (status, _) = browser.get(&format!("{page}{refused}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    }
    for harmless in [
        "?newer=-5",
        "?newer=0",
        "?end=../../etc",
        "?end=oldest&newer=1",
    ] {
        let (status, shown) = browser.get(&format!("{page}{harmless}")).await;
        assert_eq!(status, StatusCode::OK, "{harmless}");
        assert_eq!(rows(&shown), 4, "{harmless}: every attempt, on one page");
        assert!(shown.contains("Attempts 1–4 of 4"), "{harmless}");
    }
    let hostile = "<script>alert(1)</script>' OR 1=1 --";
    let encoded: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
    let (status, shown) = browser.get(&format!("{page}?guid={encoded}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!shown.contains("<script>alert"), "escaped");
    assert!(shown.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(rows(&shown), 0, "no delivery has that guid");
}

/// Automatic retries are told from manual redeliveries (a badge with the retry's number,
/// a filter of their own), a failed attempt says when the next is due, and the settings
/// form sets the hook's own retry schedule, refusing one that would hammer its receiver.
async fn retries_are_told_from_redeliveries_and_the_form_sets_the_retry_schedule() {
    use hookpost::domain::timestamp::Timestamp;
    let (app, token, receiver, hook) = a_pinged_hook(|_| {}).await;
    receiver.set(crate::receiver::Behaviour::Status(500));
    app.publish("push", "acme/widgets", json!({})).await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let browser = Browser::sign_in(&app, &token).await;
    let rows = |html: &str| html.matches(r#"<li class="delivery""#).count();
    let (_, failed) = browser.get(&page).await;
    assert!(
        failed.contains("next retry"),
        "the failed push says when it is retried"
    );
    assert_eq!(
        app.deliver_due_at(Timestamp(start.0 + 15_000)).await,
        1,
        "the server's first step, 10 s"
    );
    let (_, retried) = browser.get(&page).await;
    assert!(
        retried.contains(">retry 1<"),
        "the retry carries its number"
    );
    assert!(
        !retried.contains(">redelivery<"),
        "a retry is no redelivery"
    );
    let (_, retries) = browser.get(&format!("{page}?filter=retries")).await;
    assert_eq!(rows(&retries), 1);
    let (_, redeliveries) = browser.get(&format!("{page}?filter=redeliveries")).await;
    assert_eq!(rows(&redeliveries), 0, "{redeliveries}");
    assert!(redeliveries.contains("No redeliveries."));
    let newest = app
        .deliveries(&format!("/repos/acme/widgets/hooks/{}", hook["id"]))
        .await[0]["id"]
        .clone();
    let csrf = browser.csrf().await;
    let redeliver = browser
        .post(
            &format!("{page}/deliveries/{newest}/attempts"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(redeliver.status(), StatusCode::SEE_OTHER);
    app.deliver_due_at(Timestamp(start.0 + 16_000)).await;
    let (_, redeliveries) = browser.get(&format!("{page}?filter=redeliveries")).await;
    assert_eq!(rows(&redeliveries), 1);
    assert!(redeliveries.contains(">redelivery<"));

    let form = |schedule: &'static str| {
        vec![
            ("url", receiver.url.as_str()),
            ("content_type", "json"),
            ("events", "push"),
            ("other_events", "deployment, fork"),
            ("active", "1"),
            ("headers", "X-Team: payments"),
            ("retry_schedule", schedule),
            ("_csrf", csrf.as_str()),
        ]
    };
    let refused = browser.post(&page, &form("500ms")).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.text().await.unwrap();
    assert!(text.contains("from 1s to 7d"), "the field says why");
    for kept in [
        r#"value="500ms""#,
        r#"value="deployment, fork""#,
        "X-Team: payments</textarea>",
    ] {
        assert!(text.contains(kept), "what was typed is kept: {kept}");
    }
    let saved = browser.post(&page, &form("30s,5m")).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let config = app
        .get(
            &format!("/repos/acme/widgets/hooks/{}/config", hook["id"]),
            &token,
        )
        .await;
    assert_eq!(config.body["retry_schedule"], "30s,5m");
    let (_, shown) = browser.get(&page).await;
    assert!(
        shown.contains(r#"value="30s,5m""#),
        "the form shows the schedule"
    );
}

/// The settings form sets a rate limit and FIFO order (a refused one keeps what was typed, with the
/// reason beside the field), and a delivery that waited for it says so in its row.
async fn the_form_sets_rate_limit_and_order_and_rows_say_which_deliveries_waited() {
    use hookpost::domain::timestamp::Timestamp;
    let (app, token, receiver, hook) = a_pinged_hook(|_| {}).await;
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let browser = Browser::sign_in(&app, &token).await;
    let csrf = browser.csrf().await;
    let form = |rate: &'static str| {
        vec![
            ("url", receiver.url.as_str()),
            ("content_type", "json"),
            ("events", "push"),
            ("active", "1"),
            ("rate_limit", rate),
            ("_csrf", csrf.as_str()),
        ]
    };
    for refused in ["0", "100001", "fast"] {
        let reply = browser.post(&page, &form(refused)).await;
        assert_eq!(
            reply.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}"
        );
        let text = reply.text().await.unwrap();
        assert!(text.contains("from 1 to 100000"), "the field says why");
        assert!(
            text.contains(&format!(r#"value="{refused}""#)),
            "what was typed is kept"
        );
    }
    let mut lifo = form("5");
    lifo.push(("ordering", "lifo"));
    let refused = browser.post(&page, &lifo).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("ordering must be"));
    let mut fifo = form("1");
    fifo.push(("ordering", "fifo"));
    let saved = browser.post(&page, &fifo).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let config_path = format!("/repos/acme/widgets/hooks/{}/config", hook["id"]);
    let config = app.get(&config_path, &token).await;
    assert_eq!(config.body["rate_limit"], 1);
    assert_eq!(config.body["ordering"], "fifo");
    let (_, shown) = browser.get(&page).await;
    assert!(shown.contains(r#"name="rate_limit" min="1" step="1" value="1""#));
    assert!(shown.contains(r#"<option value="fifo" selected>"#));
    let mut side_by_side = form("1");
    side_by_side.push(("ordering", "none"));
    let saved = browser.post(&page, &side_by_side).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let config = app.get(&config_path, &token).await;
    assert!(config.body.get("ordering").is_none(), "{}", config.body);

    for _ in 0..2 {
        app.publish("push", "acme/widgets", json!({})).await;
    }
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1, "one a second");
    let (_, one) = browser.get(&page).await;
    assert!(!one.contains("rate-limited"), "the first did not wait");
    // Its slot is a second later, due on the 50 ms grid after it.
    assert_eq!(app.deliver_due_at(Timestamp(start.0 + 1050)).await, 1);
    let (_, two) = browser.get(&page).await;
    // (How long it waited reads the worker's own clock, not the one this test gives it.)
    assert!(
        two.contains(">rate-limited "),
        "the second waited for its slot"
    );
}

/// A hook disabled by `--disable-after` says so on its page, with the reason, lists its
/// held deliveries under "Held", and "Re-enable webhook" makes it active again.
async fn a_disabled_hook_shows_why_lists_held_deliveries_and_is_re_enabled() {
    let app = crate::flow::spawn_disabling_app().await;
    let token = app.owner_token(&["acme"]).await;
    let receiver = TestReceiver::start().await;
    receiver.set(crate::receiver::Behaviour::Status(500));
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &hook_body(&receiver.url),
        )
        .await;
    let api_path = format!("/repos/acme/widgets/hooks/{}", hook["id"]);
    crate::flow::fail_until_disabled(&app, &api_path).await;
    app.publish("push", "acme/widgets", json!({"held": true}))
        .await;
    let page = format!("/ui{api_path}");
    let browser = Browser::sign_in(&app, &token).await;
    let (_, shown) = browser.get(&page).await;
    assert!(shown.contains("This webhook was disabled"), "{shown}");
    assert!(shown.contains("every attempt failed"));
    assert!(shown.contains("Re-enable webhook"));
    assert!(
        shown.contains(">Held ("),
        "the held count beside its filter"
    );
    let (_, held) = browser.get(&format!("{page}?filter=held")).await;
    assert!(held.contains(r#"<li class="delivery held""#), "{held}");
    let csrf = browser.csrf().await;
    let enabled = browser
        .post(&format!("{page}/enable"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    let hook = app.get(&api_path, &token).await.body;
    assert_eq!(hook["active"], true);
    assert!(hook.get("disabled_at").is_none());
    let (_, after) = browser.get(&page).await;
    assert!(!after.contains("This webhook was disabled"));
}

/// "Redeliver failed" on a hook's page starts a recovery and the page follows it.
async fn failed_deliveries_are_redelivered_from_the_hook_page_with_their_progress() {
    let (app, token, receiver, hook) = a_pinged_hook(|config| {
        config.delivery.retry_schedule = "none".parse().unwrap();
    })
    .await;
    receiver.set(crate::receiver::Behaviour::Status(500));
    for n in 0..3 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    assert_eq!(app.deliver_due().await, 3);
    receiver.set(crate::receiver::Behaviour::Status(200));
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let browser = Browser::sign_in(&app, &token).await;
    let (_, shown) = browser.get(&page).await;
    assert!(
        shown.contains("Redeliver failed"),
        "the action is on the page"
    );
    let csrf = browser.csrf().await;
    let started = browser
        .post(
            &format!("{page}/recover"),
            &[("since", "24h"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let location = started.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.contains("?recovery="), "{location}");
    let (_, running) = browser.get(&location).await;
    assert!(
        running.contains("Redelivering 3 failed deliveries: 0 attempted"),
        "{running}"
    );
    let again = browser
        .post(
            &format!("{page}/recover"),
            &[("since", "24h"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("still running"));
    let odd = browser
        .post(
            &format!("{page}/recover"),
            &[("since", "forever"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(odd.status(), StatusCode::BAD_REQUEST);

    assert_eq!(app.deliver_due().await, 3);
    let (_, finished) = browser.get(&location).await;
    assert!(
        finished.contains("Redelivered 3 failed deliveries: 3 succeeded, 0 failed."),
        "{finished}"
    );
    assert_eq!(
        finished.matches(">recovery<").count(),
        3,
        "each redelivery says why"
    );
}

/// A page asked for without a session leads to the sign-in form and, once signed in, back
/// to that page — never to another site — and an expired session is said so; a delivery
/// opened by the script gets a 401 to explain, not the sign-in page inside its row.
async fn signing_in_returns_to_the_page_asked_for_and_never_elsewhere() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let origin = format!("http://{}", app.address);
    let client = no_redirects();
    let wanted = "/ui/repos/acme/widgets/hooks/7?filter=failed";
    let sent_away = client
        .get(format!("{origin}{wanted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent_away.status(), StatusCode::SEE_OTHER);
    let location = sent_away.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "/ui/login?next=%2Fui%2Frepos%2Facme%2Fwidgets%2Fhooks%2F7%3Ffilter%3Dfailed"
    );
    // An expired (or unknown) session says so.
    let stale = client
        .get(format!("{origin}{wanted}"))
        .header(COOKIE, "hookpost_session=not-a-session")
        .send()
        .await
        .unwrap();
    let stale_location = stale.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(stale_location.ends_with("&expired=1"), "{stale_location}");
    let form = client
        .get(format!("{origin}{stale_location}"))
        .send()
        .await
        .unwrap();
    let cookie = form.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = form.text().await.unwrap();
    assert!(page.contains("Your session has expired"), "{page}");
    assert!(page.contains(r#"name="next" value="/ui/repos/acme/widgets/hooks/7?filter=failed""#));
    let csrf = field_value(&page, "_csrf");
    let sign_in = |next: &'static str| {
        let (client, origin, cookie, csrf, token) = (
            client.clone(),
            origin.clone(),
            cookie.clone(),
            csrf.clone(),
            token.clone(),
        );
        async move {
            let response = client
                .post(format!("{origin}/ui/login"))
                .header(COOKIE, cookie)
                .form(&[
                    ("token", token.as_str()),
                    ("_csrf", csrf.as_str()),
                    ("next", next),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next}");
            response.headers()[LOCATION].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(sign_in(wanted).await, wanted, "back where the browser was");
    // The attacker's destinations: another site in every spelling, the sign-in page itself,
    // and a header split.
    for hostile in [
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/\\evil.example",
        "/ui/\\evil.example",
        "javascript:alert(1)",
        "/ui/login?next=/ui",
        "/ui/logout",
        "/ui/x\r\nSet-Cookie: a=b",
        "/uiother",
        "",
    ] {
        assert_eq!(
            sign_in(hostile).await,
            "/ui",
            "{hostile:?} goes to the overview"
        );
    }

    // The script's fetch of a delivery's details, after the session is gone.
    let fetched = client
        .get(format!(
            "{origin}/ui/repos/acme/widgets/hooks/7/deliveries/1"
        ))
        .header(COOKIE, "hookpost_session=not-a-session")
        .header("Sec-Fetch-Dest", "empty")
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::UNAUTHORIZED);
    let text = fetched.text().await.unwrap();
    assert!(
        text.contains("session has expired") && !text.contains("<form"),
        "{text}"
    );
}

async fn a_session_is_kept_in_the_database_across_restarts_and_nodes() {
    let storage = std::sync::Arc::new(crate::helpers::Storage::new().await);
    let app = crate::helpers::start(&storage, |_| {}).await;
    let token = app.owner_token(&["acme"]).await;
    let browser = Browser::sign_in(&app, &token).await;
    let csrf = browser.csrf().await;
    app.stop().await;

    // The same cookie and CSRF token work on the restarted server...
    let app = crate::helpers::start(&storage, |_| {}).await;
    let browser = Browser {
        origin: format!("http://{}", app.address),
        ..browser
    };
    assert_eq!(browser.get("/ui").await.0, StatusCode::OK);
    assert_eq!(browser.csrf().await, csrf);
    // ...and, on a shared database, on another node at the same time.
    if crate::BACKEND == crate::storage::Backend::Postgres {
        let other = crate::helpers::start(&storage, |_| {}).await;
        let there = Browser {
            client: no_redirects(),
            origin: format!("http://{}", other.address),
            cookie: browser.cookie.clone(),
        };
        assert_eq!(there.get("/ui").await.0, StatusCode::OK);
        other.stop().await;
    }
    // Signing out ends it everywhere.
    let out = browser
        .post("/ui/logout", &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/ui").await.0, StatusCode::SEE_OTHER);
    // The database keeps only digests: neither the cookie's id nor the token.
    let id = browser.cookie.split_once('=').unwrap().1.to_owned();
    let stored = storage.database_bytes().await;
    for secret in [id.as_str(), token.as_str()] {
        assert!(
            !stored
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "a secret in the clear"
        );
    }
    app.stop().await;
}

/// Small things a daily user meets: an unknown page is the UI's own 404 page, a favicon, a
/// hook with no event refused next to its field, an empty filter that says what it
/// filtered, an inactive hook that says so and is not pretended to be pinged.
async fn the_ui_explains_empty_lists_inactive_hooks_and_unknown_pages() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let browser = Browser::sign_in(&app, &token).await;

    let unknown = browser
        .client
        .get(format!("{}/ui/no/such/page", browser.origin))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(
        unknown.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let (status, _) = browser.get("/ui/assets/favicon.svg").await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = browser.get("/ui").await;
    assert!(page.contains(r#"rel="icon""#));

    let csrf = browser.csrf().await;
    let no_events = [
        ("_csrf", csrf.as_str()),
        ("target", "acme/widgets"),
        ("url", "https://example.com/hook"),
        ("active", "1"),
    ];
    let refused = browser.post("/ui/hooks/new", &no_events).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("choose at least one event")
    );
    let hooks = app.get("/repos/acme/widgets/hooks", &token).await;
    assert_eq!(hooks.body, json!([]), "nothing was created");

    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"active": false, "config": {"url": "https://example.com/hook"}}),
        )
        .await;
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]);
    let (_, shown) = browser.get(&page).await;
    assert!(
        shown.contains(r#"id="inactive""#),
        "the page says it is inactive"
    );
    let (_, failed) = browser.get(&format!("{page}?filter=failed")).await;
    assert!(failed.contains("No failed deliveries."));
    let ping = browser
        .post(&format!("{page}/ping"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(ping.status(), StatusCode::BAD_REQUEST);
    assert!(ping.text().await.unwrap().contains("inactive"));
}

/// The settings form chooses the signature headers; the Standard scheme refuses a plain
/// secret next to its field, as the API does.
async fn the_form_chooses_standard_webhooks_signatures() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let browser = Browser::sign_in(&app, &token).await;
    let csrf = browser.csrf().await;
    let form = |secret: &'static str| {
        [
            ("target", "acme/widgets"),
            ("url", "https://example.com/hook"),
            ("events", "push"),
            ("active", "1"),
            ("signature", "standard"),
            ("secret", secret),
        ]
    };
    let plain = [form("plain").as_slice(), &[("_csrf", csrf.as_str())]].concat();
    let refused = browser.post("/ui/hooks/new", &plain).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("whsec_"));
    let whsec = form("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=");
    let signed = [whsec.as_slice(), &[("_csrf", csrf.as_str())]].concat();
    let created = browser.post("/ui/hooks/new", &signed).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let hooks = app.get("/repos/acme/widgets/hooks", &token).await;
    assert_eq!(hooks.body[0]["config"]["signature"], "standard");
    let page = format!("/ui/repos/acme/widgets/hooks/{}", hooks.body[0]["id"]);
    let (_, shown) = browser.get(&page).await;
    assert!(
        shown.contains(r#"<option value="standard" selected>"#),
        "the form shows it"
    );

    // A new secret with an overlap: the old one still signs for a day.
    let rotate = [
        ("_csrf", csrf.as_str()),
        ("url", "https://example.com/hook"),
        ("content_type", "json"),
        ("events", "push"),
        ("active", "1"),
        ("signature", "standard"),
        (
            "secret",
            "whsec_c2Vjb25kIHNlY3JldCBvZiB0aGUgdGVzdCBob29rIQ==",
        ),
        ("secret_overlap", "24h"),
    ];
    assert_eq!(
        browser.post(&page, &rotate).await.status(),
        StatusCode::SEE_OTHER
    );
    let config = app
        .get(
            &format!("/repos/acme/widgets/hooks/{}/config", hooks.body[0]["id"]),
            &token,
        )
        .await;
    assert!(
        config.body["previous_secret_expires_at"].is_string(),
        "{}",
        config.body
    );
}

/// The hook page says when the server will block the hook's deliveries, and how to allow
/// them.
async fn the_hook_page_warns_that_deliveries_will_be_blocked() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let browser = Browser::sign_in(&app, &token).await;
    let mut pages = Vec::new();
    for url in ["http://127.0.0.1:9000/hook", "https://example.com/hook"] {
        let hook = app
            .create_hook("/repos/acme/widgets/hooks", &token, &hook_body(url))
            .await;
        let (status, page) = browser
            .get(&format!("/ui/repos/acme/widgets/hooks/{}", hook["id"]))
            .await;
        assert_eq!(status, StatusCode::OK);
        pages.push(page);
    }
    assert!(pages[0].contains(r#"class="warning""#), "{}", pages[0]);
    assert!(pages[0].contains("--allow-target 127.0.0.0/8"));
    assert!(!pages[1].contains(r#"class="warning""#));
}

crate::harness::tests!(
    a_disabled_hook_shows_why_lists_held_deliveries_and_is_re_enabled,
    the_form_sets_rate_limit_and_order_and_rows_say_which_deliveries_waited,
    the_form_chooses_standard_webhooks_signatures,
    the_ui_explains_empty_lists_inactive_hooks_and_unknown_pages,
    the_hook_page_warns_that_deliveries_will_be_blocked,
    the_edit_form_keeps_the_secret_unless_told_to_remove_it,
    an_app_hooks_attempt_shows_the_payload_its_receiver_got_as_the_api_does,
    a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing,
    an_owner_sees_nothing_of_another_owners_hooks_in_the_ui,
    hooks_are_edited_and_deleted_and_the_admin_manages_tokens_and_sees_apps,
    recent_deliveries_filter_page_chart_and_open_into_request_and_response,
    a_session_is_kept_in_the_database_across_restarts_and_nodes,
    ui_pages_carry_a_strict_policy_are_never_cached_and_mask_credentials,
    repeated_failed_authentications_are_refused_but_valid_ones_are_not,
    retries_are_told_from_redeliveries_and_the_form_sets_the_retry_schedule,
    failed_deliveries_are_redelivered_from_the_hook_page_with_their_progress,
    signing_in_returns_to_the_page_asked_for_and_never_elsewhere,
    hostile_page_cursors_are_refused_or_harmless_and_a_guid_is_escaped,
    ;
    Browser in_chromium_a_user_signs_in_adds_a_hook_watches_a_delivery_arrive_and_redelivers_it,
);
