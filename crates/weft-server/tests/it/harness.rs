//! A daemon on a free port of 127.0.0.1 over a fresh database, serving a folder of test
//! workflows whose model is scripted, and a client with a tenant's key.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use weft_core::Database;
use weft_server::{Daemon, DaemonParts, ServeOptions, Serving};

/// A chat workflow: the reply repeats the message.
pub const ECHO: &str = r#"name: echo
description: Repeats each message.
model: scripted:replies.yaml
state:
  message: { type: string }
  reply: { type: string }
entry: answer
nodes:
  answer:
    kind: llm
    prompt: "{{ state.message }}"
    writes: { reply: "{{ reply }}" }
    next: end
output: "{{ state.reply }}"
"#;

/// A workflow that asks a person before it ends.
pub const ASK: &str = r#"name: ask
model: scripted:replies.yaml
state:
  topic: { type: string, default: "the launch" }
  draft: { type: string }
  approved: { type: boolean }
entry: write
nodes:
  write:
    kind: llm
    prompt: "Write about {{ state.topic }}"
    writes: { draft: "{{ reply }}" }
    next: review
  review:
    kind: human
    ask: "Publish it?"
    input_schema:
      type: object
      properties: { approve: { type: boolean } }
      required: [approve]
    writes: { approved: "{{ input.approve }}" }
    next: end
output: { draft: "{{ state.draft }}", approved: "{{ state.approved }}" }
"#;

const REPLIES: &str = r#"replies:
  - match: "Write about (.*)"
    text: "A draft about $1."
  - match: "(.+)"
    text: "you said: $1"
"#;

/// A served folder with the test workflows.
pub fn workflows(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("echo.yaml"), ECHO).unwrap();
    std::fs::write(folder.join("ask.yaml"), ASK).unwrap();
    std::fs::write(folder.join("replies.yaml"), REPLIES).unwrap();
}

/// A running daemon.
pub struct Server {
    pub base: String,
    pub database: Arc<dyn Database>,
    pub daemon: Arc<Daemon>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub folder: tempfile::TempDir,
}

/// Options for tests: quick polls and leases.
pub fn options(folder: &Path) -> ServeOptions {
    ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        workflows: folder.join("workflows"),
        workers: 16,
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(3),
        heartbeat: Duration::from_millis(500),
        body_limit: 64 * 1024,
        shutdown_deadline: Duration::from_secs(2),
        ..ServeOptions::default()
    }
}

impl Server {
    /// A daemon over a new SQLite file.
    pub async fn sqlite() -> Self {
        Self::sqlite_with(|_, _| {}).await
    }

    /// A daemon over a new SQLite file, its served folder and options changed by `change`.
    pub async fn sqlite_with(change: impl FnOnce(&Path, &mut ServeOptions)) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let database = weft::store::open(
            folder.path().join("weft.db").to_str().unwrap(),
            weft::store::OpenMode::CreateIfMissing,
        )
        .await
        .unwrap();
        workflows(&folder.path().join("workflows"));
        let mut options = options(folder.path());
        change(&folder.path().join("workflows"), &mut options);
        Self::start(folder, database, true, options).await
    }

    /// A daemon over `database`, serving `folder`'s workflows.
    pub async fn start(
        folder: tempfile::TempDir,
        database: Arc<dyn Database>,
        exclusive: bool,
        options: ServeOptions,
    ) -> Self {
        let settings = Arc::new(weft::config::Settings::default());
        let models = weft::models::models(settings.clone(), None).unwrap();
        let daemon = Daemon::new(DaemonParts {
            database: database.clone(),
            exclusive,
            workspace: folder.path().to_owned(),
            settings,
            models: Arc::new(models),
            options,
        });
        let serving = Serving::start(daemon.clone()).await.unwrap();
        let base = format!("http://{}", serving.address().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serving
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            database,
            daemon,
            stop: Some(stop),
            task: Some(task),
            folder,
        }
    }

    /// A client whose key belongs to `tenant`.
    pub async fn client(&self, tenant: &str) -> Client {
        let (key, id) = weft_store::keys::new_key();
        self.database
            .add_key(&id, tenant, &weft_store::keys::key_hash(&key))
            .await
            .unwrap();
        Client {
            base: self.base.clone(),
            key: Some(key),
            http: reqwest::Client::new(),
        }
    }

    /// Stops the daemon cleanly and waits for it.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        self.folder
    }
}

/// A client of the API.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub key: Option<String>,
    pub http: reqwest::Client,
}

/// A response: status and JSON body (null when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn send(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        Self::send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        Self::send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> Answer {
        Self::send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    /// Forks `run` at `step`: the fork's id, once the API answered 201.
    pub async fn fork(&self, run: &str, step: u64) -> String {
        let forked = self
            .post(
                &format!("/v1/runs/{run}/fork"),
                serde_json::json!({"step": step}),
            )
            .await;
        assert_eq!(forked.status, 201, "{:?}", forked.body);
        forked.body["id"].as_str().unwrap().to_owned()
    }

    /// A POST with a body as it is.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        Self::send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    /// A session's SSE stream (ids `RUN:SEQUENCE`), read until `until` says stop.
    pub async fn session_events(
        &self,
        path: &str,
        last_event_id: Option<&str>,
        until: impl FnMut(&(String, String, serde_json::Value)) -> bool,
    ) -> Vec<(String, String, serde_json::Value)> {
        let mut request = self.request(reqwest::Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        read_stream(request, until).await
    }

    /// The SSE stream of `path` from `last_event_id`, read until `until` says stop: each
    /// item is (id, event, data).
    pub async fn events(
        &self,
        path: &str,
        last_event_id: Option<u64>,
        mut until: impl FnMut(&(Option<u64>, String, serde_json::Value)) -> bool,
    ) -> Vec<(Option<u64>, String, serde_json::Value)> {
        let mut request = self.request(reqwest::Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let items = read_stream(request, |(id, event, data)| {
            until(&(id.parse().ok(), event.clone(), data.clone()))
        })
        .await;
        items
            .into_iter()
            .map(|(id, event, data)| (id.parse().ok(), event, data))
            .collect()
    }
}

/// Reads an SSE response: (id, event, data) items until `until` says stop or it ends.
async fn read_stream(
    request: reqwest::RequestBuilder,
    mut until: impl FnMut(&(String, String, serde_json::Value)) -> bool,
) -> Vec<(String, String, serde_json::Value)> {
    use futures::StreamExt;
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut items = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the stream went quiet");
        let Some(chunk) = chunk else {
            return items;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = String::new();
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("id: ") {
                    id = value.to_owned();
                } else if let Some(value) = line.strip_prefix("event: ") {
                    event = value.to_owned();
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            if event.is_empty() {
                continue;
            }
            let item = (id, event, serde_json::from_str(&data).unwrap_or_default());
            let stop = until(&item);
            items.push(item);
            if stop {
                return items;
            }
        }
    }
}
