//! The options several commands share, each with one meaning wherever it appears: the
//! database (`--db`), the models (`--model`, `--node-model`), answers (`--answer`) and the
//! workspace (`--workspace`). A command flattens only the groups it uses.

use crate::environment;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use weft::workflow::ModelOverrides;
use weft_core::RunSetup;

/// The database file weft keeps runs in when `--db` and `$WEFT_DB` are not given.
pub const DEFAULT_DATABASE: &str = "weft.db";

/// `--db`: where runs are kept.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgument {
    /// The weft database: an SQLite file (default weft.db), or a `postgres://` URL.
    #[arg(long, value_name = "PATH_OR_URL", env = environment::DATABASE)]
    pub db: Option<String>,
}

impl DatabaseArgument {
    /// The database named.
    pub fn location(&self) -> &str {
        self.db.as_deref().unwrap_or(DEFAULT_DATABASE)
    }

    /// What a command printed as a hint must add to reach this database: ` --db X`, or
    /// nothing for the default.
    pub fn hint(&self) -> String {
        match self.db.as_deref() {
            None | Some(DEFAULT_DATABASE) => String::new(),
            Some(db) => format!(" --db {}", shell_word(db)),
        }
    }
}

/// `--session`: the session a run speaks in.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArgument {
    /// Run inside the session NAME (created on first use): the workflow's `agent` and
    /// `llm` nodes see its history, pinned facts and summaries, and what they say and do
    /// is added to it.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
}

pub fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    weft_core::duration::parse_duration(text).map_err(|error| error.to_string())
}

/// `--model` and `--node-model`: models that replace those the workflow names.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArguments {
    /// Run every model call of the workflow (and of its sub-workflows) that its own
    /// `model:` would answer on this model instead: `openai:URL[#model]`, `tgi:URL[#model]`,
    /// `mistralrs:PATH_OR_HUB_ID[?isq=fp8&devices=0,1]`, `scripted:FILE`, or a name defined
    /// in weft.toml. Nodes that name their own model keep it (see --node-model).
    #[arg(long, short, value_name = "SPEC", env = environment::MODEL)]
    pub model: Option<String>,
    /// Replace one node's model: NODE=SPEC (an `agent` or `llm` node, or a `map` whose
    /// branch is one); repeat for several nodes.
    #[arg(long = "node-model", value_name = "NODE=SPEC", value_parser = parse_node_model)]
    pub node_models: Vec<(String, String)>,
}

impl ModelArguments {
    /// Whether any model is replaced.
    pub fn given(&self) -> bool {
        self.model
            .as_deref()
            .is_some_and(|spec| !spec.trim().is_empty())
            || !self.node_models.is_empty()
    }

    /// The replacements, their relative paths made absolute against `current` so they name
    /// the same files from any folder.
    pub fn overrides(&self, current: &Path) -> ModelOverrides {
        ModelOverrides {
            workflow: self
                .model
                .as_deref()
                .filter(|spec| !spec.trim().is_empty())
                .map(|spec| weft_llm::spec::anchored(spec, current)),
            nodes: self
                .node_models
                .iter()
                .map(|(node, spec)| (node.clone(), weft_llm::spec::anchored(spec, current)))
                .collect(),
        }
    }
}

/// The replacements a run recorded when it started.
pub fn recorded_overrides(setup: Option<&RunSetup>) -> ModelOverrides {
    setup.map_or_else(ModelOverrides::default, |setup| ModelOverrides {
        workflow: setup.model.clone(),
        nodes: setup.node_models.clone(),
    })
}

/// What a run records of the front end's choices.
pub fn setup(workspace: &Path, settings: Option<&Path>, models: &ModelOverrides) -> RunSetup {
    RunSetup {
        workspace: Some(workspace.display().to_string()),
        settings: settings.map(|path| path.display().to_string()),
        model: models.workflow.clone(),
        node_models: models
            .nodes
            .iter()
            .map(|(node, spec)| (node.clone(), spec.clone()))
            .collect::<BTreeMap<_, _>>(),
        // The runtime names the workflow's texts when it starts the run.
        workflow_files: Default::default(),
        tenant: None,
        served: false,
    }
}

fn parse_node_model(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((node, spec)) if !node.trim().is_empty() && !spec.trim().is_empty() => {
            Ok((node.trim().to_owned(), spec.trim().to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not NODE=SPEC (for example `--node-model write=openai:http://127.0.0.1:8000/v1`)"
        )),
    }
}

/// `--answer`: answers for `human` nodes.
#[derive(Debug, Clone, clap::Args)]
pub struct AnswerArguments {
    /// An answer for a `human` node: JSON, text, or @FILE to read it from a file; repeat for
    /// several, used in order. QID=ANSWER answers the open question with that id (the node
    /// that asks, as `weft runs show` lists it); when no open question has that id, the whole
    /// text is the answer.
    #[arg(long = "answer", value_name = "[QID=]JSON|@FILE")]
    pub answers: Vec<String>,
}

impl AnswerArguments {
    /// The answers, read.
    pub fn read(&self) -> Result<Vec<GivenAnswer>, String> {
        self.answers
            .iter()
            .map(|answer| {
                GivenAnswer::read(answer)
                    .map_err(|message| format!("--answer {answer:?}: {message}"))
            })
            .collect()
    }
}

/// One `--answer`: the whole text read as an answer, and, when it reads `QID=ANSWER`, the
/// answer addressed to the question `QID`.
#[derive(Debug, Clone, PartialEq)]
pub struct GivenAnswer {
    whole: Value,
    addressed: Option<(String, Result<Value, String>)>,
}

impl GivenAnswer {
    /// Reads an `--answer` argument. Only the whole text can make it fail; an addressed
    /// answer that does not read fails when it is used (the id may be no question's).
    pub fn read(argument: &str) -> Result<Self, String> {
        let addressed = argument.split_once('=').and_then(|(id, rest)| {
            let plausible = !id.is_empty()
                && id
                    .chars()
                    .all(|character| character.is_alphanumeric() || "_-.#[]/".contains(character));
            plausible.then(|| (id.to_owned(), read_answer(rest)))
        });
        let whole = match (read_answer(argument), &addressed) {
            (Ok(whole), _) => whole,
            // `review={...`: not an answer as a whole, but perhaps one for `review`.
            (Err(_), Some(_)) => Value::String(argument.to_owned()),
            (Err(message), None) => return Err(message),
        };
        Ok(Self { whole, addressed })
    }

    /// The answer for the open question `id`: the addressed one when `QID` is `id`, else the
    /// whole text; an addressed answer that did not read is an error.
    pub fn for_question(&self, id: &str) -> Result<Value, String> {
        match &self.addressed {
            Some((asked, answer)) if asked == id => answer.clone(),
            _ => Ok(self.whole.clone()),
        }
    }

    /// The question this answers among the `open` ones, with the answer: the addressed
    /// one when `QID` is an open question's id, else the only open question (the whole
    /// text is its answer). With several open and none addressed, a message saying so.
    pub fn resolve(&self, open: &[&str]) -> Result<(String, Value), String> {
        if let Some((asked, _)) = &self.addressed
            && open.contains(&asked.as_str())
        {
            let answer = self
                .for_question(asked)
                .map_err(|message| format!("the answer for `{asked}`: {message}"))?;
            return Ok((asked.clone(), answer));
        }
        match open {
            [only] => Ok(((*only).to_owned(), self.whole.clone())),
            _ => Err(format!(
                "the run waits on {} questions ({}); say which one this answers: --answer QID=ANSWER",
                open.len(),
                open.join(", ")
            )),
        }
    }
}

/// An answer as given: `@FILE` is read from the file; JSON is JSON, and text that does not
/// look like JSON is taken as a string.
pub fn read_answer(argument: &str) -> Result<Value, String> {
    match argument.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {path}: {error}"))?;
            parse_answer(text.trim())
        }
        None => parse_answer(argument),
    }
}

/// An answer is JSON; text that does not look like JSON is taken as a string.
pub fn parse_answer(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Err("the answer is empty".into());
    }
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(error) if text.starts_with(['{', '[', '"']) => {
            Err(format!("the answer is not valid JSON: {error}"))
        }
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

/// `--workspace`: the folder a run works in.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkspaceArgument {
    /// The folder the run works in: its file tools' folder, its `tools/` manifests and its
    /// weft.toml (default: the current folder; a resumed run's own).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

/// `text` as one word of a shell command: quoted when it holds anything a shell reads.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_./:=@%+,".contains(character));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_quote_what_a_shell_would_split() {
        assert_eq!(shell_word("runs.db"), "runs.db");
        assert_eq!(shell_word("my runs.db"), "'my runs.db'");
        assert_eq!(shell_word("it's.db"), r"'it'\''s.db'");
        let database = DatabaseArgument {
            db: Some("postgres://u@h:5432/d".into()),
        };
        assert_eq!(database.hint(), " --db postgres://u@h:5432/d");
        assert_eq!(DatabaseArgument { db: None }.hint(), "");
    }

    #[test]
    fn an_answer_may_name_its_question() {
        let given = GivenAnswer::read(r#"review={"approve": true}"#).unwrap();
        assert_eq!(
            given.for_question("review").unwrap(),
            serde_json::json!({"approve": true})
        );
        assert_eq!(
            given.for_question("other").unwrap(),
            Value::String(r#"review={"approve": true}"#.to_owned())
        );
        // JSON with `=` inside is never taken for an id.
        let json = GivenAnswer::read(r#"{"note": "a=b"}"#).unwrap();
        assert_eq!(
            json.for_question("review").unwrap(),
            serde_json::json!({"note": "a=b"})
        );
        // An addressed answer that does not read fails only where it is used.
        let broken = GivenAnswer::read("review={oops").unwrap();
        assert!(
            broken
                .for_question("review")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert_eq!(
            broken.for_question("other").unwrap(),
            Value::String("review={oops".to_owned())
        );
        assert!(GivenAnswer::read("{oops").is_err());
    }

    #[test]
    fn node_models_are_node_equals_spec() {
        assert_eq!(
            parse_node_model("write=mistralrs:./m?isq=fp8").unwrap(),
            ("write".into(), "mistralrs:./m?isq=fp8".into())
        );
        assert!(parse_node_model("write").is_err());
        assert!(parse_node_model("=spec").is_err());
    }

    #[test]
    fn answers_are_json_text_or_files() {
        assert_eq!(
            parse_answer("{\"ok\": true}").unwrap(),
            serde_json::json!({"ok": true})
        );
        assert_eq!(
            parse_answer("yes please").unwrap(),
            serde_json::json!("yes please")
        );
        assert!(parse_answer("{\"ok\": ").is_err());
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("answer.json");
        std::fs::write(&file, "{\"approve\": false}\n").unwrap();
        assert_eq!(
            read_answer(&format!("@{}", file.display())).unwrap(),
            serde_json::json!({"approve": false})
        );
        assert!(
            read_answer("@/no/such/file")
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
