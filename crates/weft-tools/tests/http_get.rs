//! `http_get` against a real HTTP server on 127.0.0.1: allowed hosts only (redirects
//! included), bodies capped, time limited, busy servers retryable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use serde_json::{Value, json};
use std::time::Duration;
use weft_core::{ErrorKind, ToolError};
use weft_tools::Registry;
use weft_tools::builtin::{HttpGet, HttpPolicy};

mod support;

/// Serves the test routes on 127.0.0.1; returns the port.
async fn server() -> u16 {
    let app = Router::new()
        .route(
            "/hello",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "hello, weft") }),
        )
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route("/inside", get(|| async { Redirect::temporary("/hello") }))
        .route(
            "/outside",
            get(|| async { Redirect::temporary("http://localhost:9/elsewhere") }),
        )
        .route(
            "/busy",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response() }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn registry(max_bytes: u64, timeout: Duration) -> Registry {
    let mut registry = Registry::new();
    registry
        .register(
            HttpGet::new(HttpPolicy {
                allow_hosts: vec!["127.0.0.1".into(), "*.example.com".into()],
                max_bytes,
                timeout,
            })
            .unwrap(),
        )
        .unwrap();
    registry
}

async fn get_url(registry: &Registry, url: &str) -> Result<Value, ToolError> {
    support::call(registry, "http_get", json!({ "url": url })).await
}

#[tokio::test]
async fn an_allowed_url_is_fetched_and_a_redirect_to_an_allowed_host_followed() {
    let port = server().await;
    let registry = registry(1_000, Duration::from_secs(5));
    let output = get_url(&registry, &format!("http://127.0.0.1:{port}/hello"))
        .await
        .unwrap();
    assert_eq!(output["status"], json!(200));
    assert_eq!(output["body"], json!("hello, weft"));
    assert_eq!(output["content_type"], json!("text/plain"));
    assert_eq!(output["truncated"], json!(false));

    let output = get_url(&registry, &format!("http://127.0.0.1:{port}/inside"))
        .await
        .unwrap();
    assert_eq!(output["body"], json!("hello, weft"));
    assert_eq!(
        output["url"],
        json!(format!("http://127.0.0.1:{port}/hello"))
    );

    // A status that is not success is still an answer the model reads.
    let output = get_url(&registry, &format!("http://127.0.0.1:{port}/missing"))
        .await
        .unwrap();
    assert_eq!(output["status"], json!(404));
}

#[tokio::test]
async fn hosts_off_the_list_are_refused_even_through_a_redirect() {
    let port = server().await;
    let registry = registry(1_000, Duration::from_secs(5));
    for url in [
        "http://localhost/hello".to_owned(),
        "https://example.com.attacker.test/".to_owned(),
        "https://notexample.com/".to_owned(),
    ] {
        let error = get_url(&registry, &url).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput, "{url}");
        assert!(error.message.contains("is not an allowed host"), "{error}");
    }
    let error = get_url(&registry, "ftp://127.0.0.1/file")
        .await
        .unwrap_err();
    assert!(
        error.message.contains("only http:// and https://"),
        "{error}"
    );
    let error = get_url(&registry, "not a url").await.unwrap_err();
    assert!(error.message.contains("is not a URL"), "{error}");

    let error = get_url(&registry, &format!("http://127.0.0.1:{port}/outside"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(
        error
            .message
            .contains("`localhost`, which is not an allowed host"),
        "{error}"
    );
}

#[test]
fn a_wildcard_entry_covers_the_domain_and_its_subdomains_only() {
    let policy = HttpPolicy {
        allow_hosts: vec!["*.example.com".into(), "api.test".into()],
        max_bytes: 1,
        timeout: Duration::from_secs(1),
    };
    for allowed in [
        "example.com",
        "a.example.com",
        "a.b.example.com",
        "API.test",
    ] {
        assert!(policy.allows(allowed), "{allowed}");
    }
    for refused in ["badexample.com", "example.com.evil", "x.api.test", "test"] {
        assert!(!policy.allows(refused), "{refused}");
    }
}

#[tokio::test]
async fn a_body_past_the_limit_is_cut_and_flagged() {
    let port = server().await;
    let registry = registry(1_000, Duration::from_secs(5));
    let output = get_url(&registry, &format!("http://127.0.0.1:{port}/big"))
        .await
        .unwrap();
    assert_eq!(output["truncated"], json!(true));
    assert_eq!(output["body"].as_str().unwrap().len(), 1_000);
}

#[tokio::test]
async fn slow_busy_and_unreachable_servers_are_errors_of_their_kind() {
    let port = server().await;
    let registry = registry(1_000, Duration::from_millis(300));
    let error = get_url(&registry, &format!("http://127.0.0.1:{port}/slow"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{error}");

    let error = get_url(&registry, &format!("http://127.0.0.1:{port}/busy"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RetryableUpstream);
    assert!(error.message.contains("503"), "{error}");

    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = get_url(&registry, &format!("http://127.0.0.1:{closed}/"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RetryableUpstream, "{error}");
}
