//! The happy paths of repository and organization hook management, each response checked
//! against GitHub's schema.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, hook_body, spawn_app};
use crate::schema::assert_matches;

async fn a_repository_hook_goes_through_its_whole_life() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let collection = "/repos/acme/widgets/hooks";

    let created = app
        .post(
            collection,
            &token,
            &json!({
                "name": "web",
                "active": true,
                "events": ["push", "issues"],
                "config": {
                    "url": "https://receiver.example/hook",
                    "content_type": "json",
                    "secret": "s3cret",
                    "insecure_ssl": "0",
                    "headers": {"X-My-Request-Header": "XXX", "Authorization": "Bearer abc"}
                }
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let hook = &created.body;
    assert_matches("hook", hook);
    let id = hook["id"].as_i64().unwrap();
    let url = format!("{}/repos/acme/widgets/hooks/{id}", app.api);
    assert_eq!(created.header("location"), Some(url.as_str()));
    assert_eq!(hook["type"], "Repository");
    assert_eq!(hook["url"], url);
    assert_eq!(hook["test_url"], format!("{url}/test"));
    assert_eq!(hook["ping_url"], format!("{url}/pings"));
    assert_eq!(hook["deliveries_url"], format!("{url}/deliveries"));
    assert_eq!(hook["events"], json!(["push", "issues"]));
    assert_eq!(
        hook["config"],
        json!({
            "url": "https://receiver.example/hook",
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": "********",
            "headers": {"X-My-Request-Header": "XXX", "Authorization": "********"}
        })
    );
    assert_eq!(
        hook["last_response"],
        json!({"code": null, "status": "unused", "message": null})
    );

    let path = format!("{collection}/{id}");
    let fetched = app.get(&path, &token).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body, hook);

    let listed = app.get(collection, &token).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, json!([hook]));
    assert_eq!(listed.header("link"), None);

    let updated = app
        .patch(
            &path,
            &token,
            &json!({"active": false, "add_events": ["pull_request"], "remove_events": ["push"]}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_matches("hook", &updated.body);
    assert_eq!(updated.body["active"], false);
    assert_eq!(updated.body["events"], json!(["issues", "pull_request"]));
    assert_eq!(updated.body["config"], hook["config"], "config untouched");

    let replaced = app.patch(&path, &token, &json!({"events": ["*"]})).await;
    assert_eq!(replaced.body["events"], json!(["*"]));

    let config_path = format!("{path}/config");
    let config = app.get(&config_path, &token).await;
    assert_eq!(config.status, StatusCode::OK);
    assert_matches("webhook-config", &config.body);
    assert_eq!(config.body, hook["config"]);

    let changed = app
        .patch(
            &config_path,
            &token,
            &json!({"url": "http://other.example/x", "content_type": "form", "insecure_ssl": 1, "secret": ""}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_matches("webhook-config", &changed.body);
    assert_eq!(changed.body["url"], "http://other.example/x");
    assert_eq!(changed.body["content_type"], "form");
    assert_eq!(changed.body["insecure_ssl"], "1");
    assert!(
        changed.body.get("secret").is_none(),
        "an empty secret clears it"
    );
    assert_eq!(changed.body["headers"]["X-My-Request-Header"], "XXX");

    let deleted = app.delete(&path, &token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(collection, &token).await.body, json!([]));
}

async fn an_organization_hook_goes_through_its_whole_life() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let collection = "/orgs/acme/hooks";

    let hook = app
        .create_hook(
            collection,
            &token,
            &json!({"name": "web", "events": ["push"], "config": {"url": "http://example.com/org"}}),
        )
        .await;
    assert_matches("org-hook", &hook);
    assert_matches("hook", &{
        // GitHub's org hooks have no test endpoint, so no test_url; the rest is a hook.
        let mut as_repo_hook = hook.clone();
        as_repo_hook["test_url"] = json!("http://h/x");
        as_repo_hook
    });
    let id = hook["id"].as_i64().unwrap();
    assert_eq!(hook["type"], "Organization");
    assert_eq!(hook["url"], format!("{}/orgs/acme/hooks/{id}", app.api));
    assert!(hook.get("test_url").is_none());
    assert_eq!(hook["config"]["content_type"], "form", "GitHub's default");

    let path = format!("{collection}/{id}");
    assert_eq!(app.get(&path, &token).await.body, hook);
    let listed = app.get(collection, &token).await;
    assert_eq!(listed.body, json!([hook]));

    let updated = app
        .patch(&path, &token, &json!({"config": {"content_type": "json"}}))
        .await;
    assert_matches("org-hook", &updated.body);
    assert_eq!(updated.body["config"]["content_type"], "json");
    assert_eq!(updated.body["config"]["url"], "http://example.com/org");

    let config = app.get(&format!("{path}/config"), &token).await;
    assert_matches("webhook-config", &config.body);
    let config = app
        .patch(&format!("{path}/config"), &token, &json!({"secret": "abc"}))
        .await;
    assert_eq!(config.body["secret"], "********");

    assert_eq!(
        app.delete(&path, &token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(collection, &token).await.body, json!([]));
}

/// GitHub: "If you previously had a secret set, you must provide the same secret or set a new
/// secret or the secret will be removed." A hook `PATCH` with a `config` replaces GitHub's
/// config fields; Hookpost's `headers` stay unless given; `PATCH …/config` merges.
async fn a_hook_patch_with_a_config_replaces_it_as_github_documents() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"config": {"url": "https://a.example/hook", "secret": "s3",
                    "content_type": "json", "insecure_ssl": "1", "headers": {"X-Team": "a"}}}),
        )
        .await;
    let path = format!("/repos/acme/widgets/hooks/{}", hook["id"]);

    let kept = app
        .patch(
            &path,
            &token,
            &json!({"config": {"url": "https://b.example/hook",
                "secret": "********", "content_type": "json", "insecure_ssl": "1"}}),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
    assert_eq!(
        kept.body["config"]["secret"], "********",
        "the masked value keeps it"
    );

    let untouched = app.patch(&path, &token, &json!({"active": true})).await;
    assert_eq!(
        untouched.body["config"], kept.body["config"],
        "no config, no change"
    );

    let replaced = app
        .patch(
            &path,
            &token,
            &json!({"config": {"url": "https://c.example/hook"}}),
        )
        .await;
    let config = &replaced.body["config"];
    assert!(
        config.get("secret").is_none(),
        "an omitted secret is removed: {config}"
    );
    assert_eq!(config["content_type"], "form");
    assert_eq!(config["insecure_ssl"], "0");
    assert_eq!(config["url"], "https://c.example/hook");
    assert_eq!(
        config["headers"],
        json!({"X-Team": "a"}),
        "Hookpost's own field stays"
    );

    let merged = app
        .patch(
            &format!("{path}/config"),
            &token,
            &json!({"content_type": "json"}),
        )
        .await;
    assert_eq!(merged.body["content_type"], "json");
    assert_eq!(
        merged.body["url"], "https://c.example/hook",
        "…/config merges"
    );
}

/// GitHub never reuses an id, and receivers key on `X-GitHub-Hook-ID` and the delivery id:
/// deleting the newest hook (and with it the newest attempts) must not bring their ids back.
async fn hook_and_delivery_ids_are_never_reused() {
    let app = crate::helpers::spawn_stepped_app(|_| {}).await;
    let collection = "/repos/acme/widgets/hooks";
    let body = crate::helpers::hook_body("http://127.0.0.1:9/hook");
    app.create_hook(collection, ADMIN_TOKEN, &body).await;
    let newest = app.create_hook(collection, ADMIN_TOKEN, &body).await;
    app.deliver_due().await;
    let log = app
        .deliveries(&format!("{collection}/{}", newest["id"]))
        .await;
    let newest_attempt = log[0]["id"].as_i64().expect("the ping's attempt");
    let path = format!("{collection}/{}", newest["id"]);
    assert_eq!(
        app.delete(&path, ADMIN_TOKEN).await.status,
        StatusCode::NO_CONTENT
    );

    let created = app.create_hook(collection, ADMIN_TOKEN, &body).await;
    assert!(
        created["id"].as_i64() > newest["id"].as_i64(),
        "{} came back after {} was deleted",
        created["id"],
        newest["id"]
    );
    app.deliver_due().await;
    let log = app
        .deliveries(&format!("{collection}/{}", created["id"]))
        .await;
    assert!(
        log[0]["id"].as_i64().unwrap() > newest_attempt,
        "attempt {} came back",
        log[0]["id"]
    );
}

async fn create_applies_githubs_defaults() {
    let app = spawn_app().await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &hook_body("http://example.com/"),
        )
        .await;
    assert_eq!(hook["name"], "web");
    assert_eq!(hook["active"], true);
    assert_eq!(hook["events"], json!(["push"]));
    assert_eq!(
        hook["config"],
        json!({"url": "http://example.com/", "content_type": "form", "insecure_ssl": "0"})
    );
}

async fn lists_are_paged_with_absolute_links() {
    let app = spawn_app().await;
    let collection = "/repos/acme/widgets/hooks";
    let mut ids = Vec::new();
    for n in 0..5 {
        let hook = app
            .create_hook(
                collection,
                ADMIN_TOKEN,
                &hook_body(&format!("http://example.com/{n}")),
            )
            .await;
        ids.push(hook["id"].as_i64().unwrap());
    }
    // Another repository's hook must not show up.
    app.create_hook(
        "/repos/acme/other/hooks",
        ADMIN_TOKEN,
        &hook_body("http://x.example/"),
    )
    .await;

    let mut seen = Vec::new();
    let mut next = Some(format!("{}{collection}?per_page=2", app.api));
    while let Some(url) = next {
        assert!(url.starts_with(&app.api), "absolute link: {url}");
        let (following, page) = crate::helpers::get_page(&app, &url).await;
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|hook| hook["id"].as_i64().unwrap()));
        next = following;
    }
    assert_eq!(seen, ids);

    let last = app
        .get(&format!("{collection}?per_page=2&page=3"), ADMIN_TOKEN)
        .await;
    let link = last.header("link").unwrap();
    assert!(link.contains("page=2>; rel=\"prev\"") && link.contains("rel=\"first\""));
    assert!(!link.contains("rel=\"next\""));
    let beyond = app.get(&format!("{collection}?page=9"), ADMIN_TOKEN).await;
    assert_eq!(beyond.body, json!([]));
    let capped = app
        .get(&format!("{collection}?per_page=1000"), ADMIN_TOKEN)
        .await;
    assert_eq!(capped.body.as_array().unwrap().len(), 5);
}

async fn public_url_makes_every_url_absolute_on_that_origin() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.public_url = Some("https://hooks.example.com".to_owned());
    })
    .await;
    let collection = "/repos/acme/widgets/hooks";
    let hook = app
        .create_hook(collection, ADMIN_TOKEN, &hook_body("http://a.example/"))
        .await;
    let id = hook["id"].as_i64().unwrap();
    let url = format!("https://hooks.example.com/api/v3/repos/acme/widgets/hooks/{id}");
    assert_eq!(hook["url"], url);
    assert_eq!(hook["ping_url"], format!("{url}/pings"));
    app.create_hook(collection, ADMIN_TOKEN, &hook_body("http://b.example/"))
        .await;
    let listed = app
        .get(&format!("{collection}?per_page=1"), ADMIN_TOKEN)
        .await;
    assert!(listed.header("link").unwrap().starts_with(
        "<https://hooks.example.com/api/v3/repos/acme/widgets/hooks?per_page=1&page=2>"
    ));
}

async fn names_compare_case_insensitively_and_keep_their_first_spelling() {
    let app = spawn_app().await;
    let token = app.owner_token(&["Acme"]).await;
    let hook = app
        .create_hook(
            "/repos/Acme/Widgets/hooks",
            &token,
            &hook_body("http://a.example/"),
        )
        .await;
    let id = hook["id"].as_i64().unwrap();
    let fetched = app
        .get(&format!("/repos/acme/WIDGETS/hooks/{id}"), &token)
        .await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(
        fetched.body["url"],
        format!("{}/repos/Acme/Widgets/hooks/{id}", app.api)
    );
}

async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    for probe in ["healthz", "readyz"] {
        let response = app
            .client
            .get(format!("http://{}/{probe}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }
    app.stop().await;
}

/// A hook whose deliveries the server will block is saved (GitHub's answer) with a
/// `warnings` extension naming the flag that would allow them, and the operator's log says
/// it too; nothing is attempted or changed in `last_response` by it.
async fn a_hook_the_server_will_block_is_saved_with_a_warning() {
    let storage = crate::helpers::Storage::new().await;
    let (server, address, log) =
        crate::helpers::spawn_binary_logged(&storage, &[("HOOKPOST_ADMIN_TOKEN", ADMIN_TOKEN)])
            .await;
    let client = crate::helpers::http_client();
    let api = format!("http://{address}/api/v3");
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{api}{path}"))
            .header("Authorization", format!("token {ADMIN_TOKEN}"))
            .json(&body)
            .send()
    };
    let collection = "/repos/acme/widgets/hooks";
    let reply = send(
        reqwest::Method::POST,
        collection,
        hook_body("http://127.0.0.1:9000/hook"),
    )
    .await
    .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let created: serde_json::Value = reply.json().await.unwrap();
    let warning = created["warnings"][0].as_str().unwrap().to_owned();
    assert!(warning.contains("--allow-target 127.0.0.0/8"), "{warning}");
    assert_eq!(created["last_response"]["status"], "unused");
    assert_matches("hook", &created);
    let path = format!("{collection}/{}", created["id"]);

    let shown: serde_json::Value = send(reqwest::Method::GET, &path, json!(null))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(shown.get("warnings").is_none(), "only in save answers");

    let public = json!({"config": {"url": "https://example.com/hook"}});
    let updated: serde_json::Value = send(reqwest::Method::PATCH, &path, public)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(updated.get("warnings").is_none(), "{updated}");
    let local = json!({"url": "http://localhost:9000/hook"});
    let config: serde_json::Value = send(reqwest::Method::PATCH, &format!("{path}/config"), local)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        config["warnings"][0]
            .as_str()
            .unwrap()
            .contains("localhost"),
        "{config}"
    );
    assert_matches("webhook-config", &config);

    drop(server);
    let lines = log.await.unwrap();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("will be blocked") && line.contains("WARN")),
        "{lines:#?}"
    );
}

/// The operator who allowed a range gets no warning for it.
async fn a_hook_to_an_allowed_range_has_no_warning() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let created = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &hook_body("http://127.0.0.1:9000/hook"),
        )
        .await;
    assert!(created.get("warnings").is_none(), "{created}");
}

crate::harness::tests!(
    a_hook_the_server_will_block_is_saved_with_a_warning,
    a_hook_to_an_allowed_range_has_no_warning,
    hook_and_delivery_ids_are_never_reused,
    a_hook_patch_with_a_config_replaces_it_as_github_documents,
    a_repository_hook_goes_through_its_whole_life,
    an_organization_hook_goes_through_its_whole_life,
    create_applies_githubs_defaults,
    lists_are_paged_with_absolute_links,
    public_url_makes_every_url_absolute_on_that_origin,
    names_compare_case_insensitively_and_keep_their_first_spelling,
    health_and_readiness_answer,
);
