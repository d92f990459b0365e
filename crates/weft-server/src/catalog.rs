//! The workflows a daemon serves: the YAML files of one folder, read when a run starts, so
//! a file added or changed there reaches the next run (and no run that started before: a
//! run keeps the texts it started with). Each distinct set of texts is loaded and checked
//! against its tools once, and keeps a runtime of its own (its tools differ).

use crate::api::error::{ApiError, Code};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use weft::config::Settings;
use weft::toolbox::{Toolbox, WorkflowProblem};
use weft_runtime::Runtime;
use weft_tools::Registry;
use weft_workflow::{LoadError, Workflow, WorkflowTexts};

/// A served workflow, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowEntry {
    /// Its file, from the served folder: what a run names.
    pub file: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its state fields, with their types: a run's input sets some of them.
    pub state: serde_json::Value,
}

/// A workflow loaded with its tools, and the runtime that runs it with them.
#[derive(Clone)]
pub struct Loaded {
    /// The workflow.
    pub workflow: Arc<Workflow>,
    /// A runtime with its tools.
    pub runtime: Arc<Runtime>,
}

/// Builds a runtime around a workflow's tools (everything else is the daemon's).
pub type RuntimeFactory = dyn Fn(Arc<Registry>) -> Runtime + Send + Sync;

/// The served folder, and the workflows loaded from it or from runs' kept texts.
pub struct Catalog {
    folder: PathBuf,
    workspace: PathBuf,
    settings: Arc<Settings>,
    factory: Box<RuntimeFactory>,
    /// A runtime without tools, for what needs no workflow (ending a run from its log).
    plain: Arc<Runtime>,
    /// By their top file and the hashes of the texts they were loaded from.
    loaded: Mutex<HashMap<TextsKey, Loaded>>,
    /// The files of the folder as they were when last loaded.
    files_seen: Mutex<HashMap<PathBuf, Seen>>,
}

/// A workflow's top file and the hashes of its texts, by path.
type TextsKey = (PathBuf, Arc<BTreeMap<String, String>>);

/// A file as it was loaded: the size and time of it and its sub-workflows, and its key.
struct Seen {
    stamps: Vec<(PathBuf, (SystemTime, u64))>,
    key: TextsKey,
}

impl Catalog {
    /// The workflows of `folder`, run in `workspace` with `settings`, each by a runtime
    /// that `factory` makes.
    pub fn new(
        folder: PathBuf,
        workspace: PathBuf,
        settings: Arc<Settings>,
        factory: Box<RuntimeFactory>,
    ) -> Self {
        let plain = Arc::new(factory(Arc::new(Registry::new())));
        Self {
            folder,
            workspace,
            settings,
            factory,
            plain,
            loaded: Mutex::new(HashMap::new()),
            files_seen: Mutex::new(HashMap::new()),
        }
    }

    /// A runtime without tools.
    pub fn plain_runtime(&self) -> Arc<Runtime> {
        self.plain.clone()
    }

    /// The folder runs work in.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The served folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The workflow files of the folder, by name: its YAML files with a top-level `nodes:`
    /// key (others, such as scripted replies, are not workflows).
    pub fn files(&self) -> Result<Vec<PathBuf>, std::io::Error> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.folder)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|extension| extension == "yaml" || extension == "yml")
                    && std::fs::read_to_string(path)
                        .is_ok_and(|text| text.lines().any(|line| line.starts_with("nodes:")))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Every workflow of the folder that loads, and the problems of those that do not.
    pub async fn list(&self) -> Result<(Vec<WorkflowEntry>, Vec<String>), ApiError> {
        let files = self.files().map_err(|error| {
            ApiError::new(
                Code::Internal,
                format!("cannot read {}: {error}", self.folder.display()),
            )
        })?;
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for path in files {
            match self.load_file(&path).await {
                Ok(loaded) => entries.push(self.entry(&path, &loaded.workflow)),
                Err(error) => problems.push(error.message),
            }
        }
        Ok((entries, problems))
    }

    fn entry(&self, path: &Path, workflow: &Workflow) -> WorkflowEntry {
        WorkflowEntry {
            file: self.relative(path),
            name: workflow.name.clone(),
            description: workflow.spec.description.clone(),
            state: serde_json::to_value(&workflow.spec.state).unwrap_or_default(),
        }
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.folder)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The served workflow a request names: by its file (`approval.yaml`), or by its file
    /// without the extension.
    pub async fn find(&self, name: &str) -> Result<Loaded, ApiError> {
        let plain = !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.');
        let unknown = || {
            ApiError::new(
                Code::NotFound,
                format!("no workflow `{name}` is served (GET /v1/workflows lists them)"),
            )
        };
        if !plain {
            return Err(unknown());
        }
        for candidate in [
            name.to_owned(),
            format!("{name}.yaml"),
            format!("{name}.yml"),
        ] {
            let path = self.folder.join(&candidate);
            if path.is_file() {
                return self.load_file(&path).await;
            }
        }
        Err(unknown())
    }

    /// Loads a file of the folder as it is now: a file unchanged since it was last loaded
    /// (its size and time, and those of its sub-workflows) is not read again.
    pub async fn load_file(&self, path: &Path) -> Result<Loaded, ApiError> {
        let known = self
            .files_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .filter(|seen| {
                seen.stamps
                    .iter()
                    .all(|(file, stamp)| stamp_of(file) == Some(*stamp))
            })
            .map(|seen| seen.key.clone());
        if let Some(key) = known
            && let Some(loaded) = self.cached(&key)
        {
            return Ok(loaded);
        }
        let loaded = self.load(path, None).await?;
        if let Some(texts) = &loaded.workflow.texts {
            let folder = path.parent().unwrap_or(Path::new("."));
            let stamps: Option<Vec<(PathBuf, (SystemTime, u64))>> = texts
                .hashes()
                .keys()
                .map(|name| {
                    let file = folder.join(name);
                    stamp_of(&file).map(|stamp| (file, stamp))
                })
                .collect();
            if let Some(stamps) = stamps {
                let key = (path.to_owned(), texts.hashes());
                self.files_seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(path.to_owned(), Seen { stamps, key });
            }
        }
        Ok(loaded)
    }

    /// Loads a workflow from the texts a run kept (or, for a run without any, its file).
    /// Each set of texts is loaded and checked against its tools once.
    pub async fn load(
        &self,
        path: &Path,
        texts: Option<&WorkflowTexts>,
    ) -> Result<Loaded, ApiError> {
        if let Some(texts) = texts
            && let Some(loaded) = self.cached(&(path.to_owned(), texts.hashes()))
        {
            return Ok(loaded);
        }
        let toolbox = Toolbox::new(&self.workspace, self.settings.clone());
        let stored = match texts {
            Some(texts) => weft_workflow::Loader::new().load_stored(path, texts),
            None => weft_workflow::Loader::new().load(path),
        }
        .map_err(|error| load_error(path, &WorkflowProblem::Load(error)))?;
        let hashes = stored
            .texts
            .as_ref()
            .map(|texts| texts.hashes())
            .unwrap_or_default();
        let key = (path.to_owned(), hashes);
        if let Some(loaded) = self.cached(&key) {
            return Ok(loaded);
        }
        let (workflow, tools) = toolbox
            .load_kept_workflow(path, stored.texts.as_deref(), Registry::new())
            .await
            .map_err(|problem| load_error(path, &problem))?;
        let loaded = Loaded {
            workflow,
            runtime: Arc::new((self.factory)(Arc::new(tools))),
        };
        if !key.1.is_empty() {
            self.loaded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, loaded.clone());
        }
        Ok(loaded)
    }

    /// A run's workflow, by the file it started from and its setup (the texts it kept):
    /// loaded once per distinct set of texts, read from the store only the first time.
    pub async fn for_run(
        &self,
        store: &dyn weft_core::RunStore,
        source: &Path,
        setup: Option<&weft_core::RunSetup>,
    ) -> Result<Loaded, ApiError> {
        if let Some(setup) = setup
            && let Some(loaded) = self.cached(&(source.to_owned(), setup.workflow_files.clone()))
        {
            return Ok(loaded);
        }
        let texts = weft_runtime::workflow_texts(store, setup)
            .await
            .map_err(|error| ApiError::new(Code::Internal, error.to_string()))?;
        self.load(source, texts.as_ref()).await
    }

    fn cached(&self, key: &TextsKey) -> Option<Loaded> {
        if key.1.is_empty() {
            return None;
        }
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }
}

/// A file's modification time and size, when it can be read.
fn stamp_of(file: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(file).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// A workflow that does not load, as the CLI words it: every located problem.
fn load_error(path: &Path, problem: &WorkflowProblem) -> ApiError {
    let problems: Vec<String> = match problem {
        WorkflowProblem::Load(LoadError::Invalid { diagnostics }) => {
            diagnostics.iter().map(ToString::to_string).collect()
        }
        other => vec![other.to_string()],
    };
    ApiError::new(
        Code::Internal,
        format!(
            "workflow {} does not load: {}",
            path.display(),
            problems.join("; ")
        ),
    )
    .with_details(serde_json::json!({ "problems": problems }))
}
