//! A tensor-parallel worker that mistralrs started from this program (feature `nccl`): it
//! must load the in-process model its parent loads, found by the parent's own rules from
//! the parent's command line, and do nothing else. The parent's models, in the order it
//! uses them: `--model` (or `$WEFT_MODEL`), `--node-model`s, a resumed run's recorded
//! models, the models the workflow file names, weft.toml's default; the first in-process
//! one is the worker's.

use crate::Cli;
use crate::Commands;
use crate::commands::runner::RunnerArguments;
use crate::commands::runs::RunsCommand;
use clap::Parser;
use std::path::{Path, PathBuf};
use weft::config::Settings;
use weft::models::SpecAt;
use weft::store::OpenMode;
use weft_core::RunId;
use weft_llm::spec::{LocalSpec, ModelSpec};
use weft_runtime::RunReport;

/// The in-process model a worker loads, from its parent's arguments; `None` when the
/// parent loads none (the worker then has nothing to do).
pub fn local_model(arguments: &[String], current: &Path) -> Option<LocalSpec> {
    let cli = Cli::try_parse_from(arguments).ok()?;
    let (candidates, workspace) = candidates(&cli.command, current);
    let workspace = workspace.unwrap_or_else(|| current.to_owned());
    let explicit = std::env::var_os(crate::environment::CONFIG).map(PathBuf::from);
    let settings = Settings::load(&workspace, explicit.as_deref()).unwrap_or_default();
    let default = weft::models::default_spec(None, &workspace, &settings);
    candidates.into_iter().chain(default).find_map(|candidate| {
        match weft::models::resolve(&candidate.spec, &candidate.base, &settings) {
            Ok(weft::models::Resolved::Local(local)) => Some(local),
            _ => None,
        }
    })
}

/// The specs the parent's command would open, most decisive first, and the workspace.
fn candidates(command: &Commands, current: &Path) -> (Vec<SpecAt>, Option<PathBuf>) {
    let at = |spec: &String| SpecAt {
        spec: spec.clone(),
        base: current.to_owned(),
    };
    match command {
        Commands::Run(run) => {
            let runner = run.runner();
            let mut specs: Vec<SpecAt> = runner.models.model.iter().map(at).collect();
            specs.extend(runner.models.node_models.iter().map(|(_, spec)| at(spec)));
            specs.extend(workflow_specs(run.file(), None));
            (specs, runner.workspace.workspace.clone())
        }
        Commands::Chat(chat) => {
            let runner = chat.runner();
            let mut specs: Vec<SpecAt> = runner.models.model.iter().map(at).collect();
            specs.extend(runner.models.node_models.iter().map(|(_, spec)| at(spec)));
            specs.extend(workflow_specs(chat.file(), None));
            (specs, runner.workspace.workspace.clone())
        }
        Commands::Resume(resume) => stored(resume.runner(), resume.run(), current),
        Commands::Runs(RunsCommand::Fork { runner, run, .. }) => stored(runner, *run, current),
        Commands::Bench(crate::commands::bench::BenchCommand::Model(bench)) => {
            (bench.model.iter().map(at).collect(), None)
        }
        Commands::Bench(crate::commands::bench::BenchCommand::Serve(_)) => (Vec::new(), None),
        // A daemon's default model; the workflows it serves name theirs when they run.
        Commands::Serve(serve) => (
            serve.model.iter().map(at).collect(),
            serve.workspace.workspace.clone(),
        ),
        Commands::Runs(_)
        | Commands::Sessions(_)
        | Commands::Keys(_)
        | Commands::Validate(_)
        | Commands::Workflows(_)
        | Commands::Graph { .. }
        | Commands::Schema
        | Commands::Tools(_)
        | Commands::Dev(_) => (Vec::new(), None),
    }
}

/// The specs of a stored run: its flags', else those the run recorded and its workflow's.
fn stored(runner: &RunnerArguments, run: RunId, current: &Path) -> (Vec<SpecAt>, Option<PathBuf>) {
    let at = |spec: &String| SpecAt {
        spec: spec.clone(),
        base: current.to_owned(),
    };
    let mut specs: Vec<SpecAt> = runner.models.model.iter().map(at).collect();
    specs.extend(runner.models.node_models.iter().map(|(_, spec)| at(spec)));
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|runtime| {
            runtime.block_on(async {
                let store = weft::store::open(runner.database.location(), OpenMode::MustExist)
                    .await
                    .ok()?;
                let report = RunReport::read(store.as_ref(), run).await.ok()?;
                // The parent loads the texts the run kept; so does its worker.
                let texts = weft_runtime::workflow_texts(store.as_ref(), report.setup.as_ref())
                    .await
                    .ok()
                    .flatten();
                Some((report, texts))
            })
        });
    let Some((report, texts)) = report else {
        return (specs, runner.workspace.workspace.clone());
    };
    let setup = report.setup.unwrap_or_default();
    specs.extend(setup.model.iter().chain(setup.node_models.values()).map(at));
    specs.extend(workflow_specs(
        Path::new(&report.summary.source),
        texts.as_ref(),
    ));
    let workspace = runner
        .workspace
        .workspace
        .clone()
        .or_else(|| setup.workspace.map(PathBuf::from));
    (specs, workspace)
}

/// The models a workflow file names (its own and its nodes'), read against its folder;
/// from a run's kept texts when it has them.
fn workflow_specs(file: &Path, texts: Option<&weft::workflow::WorkflowTexts>) -> Vec<SpecAt> {
    let loaded = match texts {
        Some(texts) => weft::Loader::new().load_stored(file, texts),
        None => weft::Loader::new().load(file),
    };
    let Ok(workflow) = loaded else {
        return Vec::new();
    };
    let base = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    let spec = workflow.spec.clone();
    let node_models = spec.nodes.values().filter_map(|node| {
        use weft::workflow::spec::NodeSpec;
        match node {
            NodeSpec::Agent(agent) => agent.model.clone(),
            NodeSpec::Llm(llm) => llm.model.clone(),
            NodeSpec::Tool(_)
            | NodeSpec::Router(_)
            | NodeSpec::Map(_)
            | NodeSpec::Workflow(_)
            | NodeSpec::Parallel(_)
            | NodeSpec::Human(_)
            | NodeSpec::End(_) => None,
        }
    });
    spec.model
        .into_iter()
        .chain(node_models)
        .filter(|text| {
            matches!(
                ModelSpec::parse(text, &base),
                Ok(ModelSpec::Local(_) | ModelSpec::Named(_))
            )
        })
        .map(|text| SpecAt {
            spec: text,
            base: base.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn folder_of(local: Option<LocalSpec>) -> Option<String> {
        local.map(|local| match local.source {
            weft_llm::spec::LocalSource::Directory(path) => path.display().to_string(),
            weft_llm::spec::LocalSource::Hub(id) => id,
        })
    }

    #[test]
    fn a_worker_loads_the_model_its_parent_loads() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(
            folder.path().join("flow.yaml"),
            "name: f\nmodel: mistralrs:/models/own\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: end }\n",
        )
        .unwrap();
        let flow = folder.path().join("flow.yaml");
        let flow = flow.to_str().unwrap();
        let current = folder.path();
        let found = |line: &str| folder_of(local_model(&arguments(line), current));
        // `--model` replaces the workflow's own.
        assert_eq!(
            found(&format!(
                "weft run {flow} --model mistralrs:/models/flag?isq=fp8"
            )),
            Some("/models/flag".to_owned())
        );
        assert_eq!(
            found(&format!("weft run {flow} --model=mistralrs:/models/flag")),
            Some("/models/flag".to_owned())
        );
        // Without it, a node's replacement, then the workflow's own model.
        assert_eq!(
            found(&format!(
                "weft run {flow} --node-model a=mistralrs:/models/node"
            )),
            Some("/models/node".to_owned())
        );
        assert_eq!(
            found(&format!("weft run {flow}")),
            Some("/models/own".to_owned())
        );
        // A remote replacement loads nothing in-process; the workflow's own model is next.
        assert_eq!(
            found(&format!(
                "weft run {flow} --model openai:http://127.0.0.1:1/v1"
            )),
            Some("/models/own".to_owned())
        );
        assert_eq!(
            found("weft bench model --model mistralrs:/models/bench"),
            Some("/models/bench".to_owned())
        );
        assert_eq!(found("weft schema"), None);
        assert_eq!(found("weft no-such-command"), None);
    }
}
