//! The layering rules of ARCHITECTURE.md, checked against the real dependency graph.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// Every package `package` depends on, directly or not, through normal dependencies.
fn dependencies_of(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            (
                package["id"].as_str().unwrap(),
                package["name"].as_str().unwrap(),
            )
        })
        .collect();
    let nodes: HashMap<&str, Vec<&str>> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let normal: Vec<&str> = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| {
                    dependency["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|kind| kind["kind"].is_null())
                })
                .map(|dependency| dependency["pkg"].as_str().unwrap())
                .collect();
            (node["id"].as_str().unwrap(), normal)
        })
        .collect();
    let start = names
        .iter()
        .find(|(_, name)| **name == package)
        .map(|(id, _)| *id)
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        for dependency in nodes.get(id).into_iter().flatten() {
            if seen.insert(names[dependency].to_owned()) {
                stack.push(dependency);
            }
        }
    }
    seen
}

#[test]
fn the_core_crate_does_no_io() {
    let dependencies = dependencies_of("weft-core");
    assert!(
        dependencies.contains("serde"),
        "the walk found the real graph: {dependencies:?}"
    );
    for forbidden in ["tokio", "sqlx", "reqwest", "mistralrs", "hyper", "axum"] {
        assert!(
            !dependencies.contains(forbidden),
            "weft-core must not depend on {forbidden}"
        );
    }
    for layer in ["weft-workflow", "weft-runtime", "weft-llm", "weft-cli"] {
        assert!(
            !dependencies.contains(layer),
            "weft-core must not depend on {layer}"
        );
    }
}

#[test]
fn the_workflow_crate_stays_sans_io() {
    let dependencies = dependencies_of("weft-workflow");
    for forbidden in [
        "tokio",
        "sqlx",
        "reqwest",
        "mistralrs",
        "weft-runtime",
        "weft-llm",
    ] {
        assert!(
            !dependencies.contains(forbidden),
            "weft-workflow must not depend on {forbidden}"
        );
    }
}

#[test]
fn only_the_composition_picks_concrete_backends() {
    for layer in ["weft-runtime", "weft-llm", "weft"] {
        let dependencies = dependencies_of(layer);
        assert!(
            !dependencies.contains("weft-cli"),
            "{layer} must not depend on weft-cli"
        );
    }
    assert!(
        !dependencies_of("weft-runtime").contains("weft-llm"),
        "the runtime sees models only through the port"
    );
    assert!(
        !dependencies_of("weft-runtime").contains("mistralrs"),
        "the runtime sees models only through the port"
    );
}

#[test]
fn the_tool_trait_crate_stays_thin() {
    let dependencies = dependencies_of("weft-tool");
    assert!(
        dependencies.contains("schemars"),
        "the walk found the real graph: {dependencies:?}"
    );
    for forbidden in ["reqwest", "rmcp", "nix", "tokio", "sqlx", "weft-tools"] {
        assert!(
            !dependencies.contains(forbidden),
            "weft-tool must not depend on {forbidden}"
        );
    }
}

#[test]
fn mistralrs_stays_in_its_own_crate() {
    // The OpenAI-compatible backend and the prompt format build without the heavy
    // in-process engine; only weft-mistralrs (and the CLI that picks it) pull it in.
    for layer in [
        "weft-core",
        "weft-workflow",
        "weft-runtime",
        "weft-llm",
        "weft-store",
        "weft-tools",
        "weft-fixtures",
    ] {
        assert!(
            !dependencies_of(layer).contains("mistralrs"),
            "{layer} must not depend on mistralrs"
        );
    }
    assert!(dependencies_of("weft-mistralrs").contains("mistralrs"));
}

#[test]
fn an_application_with_its_own_tools_builds_without_the_command_line_or_mistralrs() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "weft-custom-tools-example",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let packages: BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        packages.contains("weft") && packages.contains("weft-tool"),
        "the tree is the example's: {packages:?}"
    );
    for forbidden in [
        "clap",
        "indicatif",
        "mistralrs",
        "mistralrs-core",
        "candle-core",
        "weft-cli",
        "weft-mistralrs",
        "reqwest",
        "rmcp",
        "nix",
        "sqlx",
    ] {
        assert!(
            !packages.contains(forbidden),
            "the custom-tools example pulls in {forbidden}"
        );
    }
}
