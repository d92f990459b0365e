//! The README's command table says what `weft --help` says: every command has its row, and
//! every option a command takes is in it.

use super::command_line::{stdout, weft_in};
use std::path::Path;

/// The subcommands `weft [path] --help` lists (without `help`).
fn subcommands(path: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = weft_in(root, &[path, &["--help"]].concat());
    let help = stdout(&output);
    let Some((_, commands)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    commands
        .lines()
        .take_while(|line| !line.trim().is_empty())
        // A command's line is indented by two spaces; its description's next lines, more.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The long options `weft <path> --help` lists, but those every command has.
fn options(path: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let help = stdout(&weft_in(root, &[path, &["--help"]].concat()));
    help.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line
                .strip_prefix("-")
                .filter(|_| line.starts_with("-m, "))
                .map_or(line, |_| &line[4..]);
            line.strip_prefix("--")
                .and_then(|rest| rest.split([' ', '<']).next())
                .map(|name| format!("--{name}"))
        })
        .filter(|option| !matches!(option.as_str(), "--help" | "--version" | "--color"))
        .collect()
}

#[test]
fn the_readme_lists_every_command_with_its_options() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let rows: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| `weft "))
        .collect();
    let mut commands: Vec<Vec<String>> = Vec::new();
    for command in subcommands(&[]) {
        let nested = subcommands(&[&command]);
        if nested.is_empty() {
            commands.push(vec![command]);
        } else {
            commands.extend(nested.into_iter().map(|child| vec![command.clone(), child]));
        }
    }
    assert!(commands.len() >= 14, "{commands:?}");
    let mut problems = Vec::new();
    for command in &commands {
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        let name = format!("`weft {}", words.join(" "));
        let Some(row) = rows.iter().find(|row| row[2..].starts_with(&name)) else {
            problems.push(format!("no row for {name}`"));
            continue;
        };
        let usage = row.split(" | ").next().unwrap_or_default();
        for option in options(&words) {
            if !usage.contains(&option) {
                problems.push(format!("{name}`: {option} is missing"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the README's command table and `weft --help` disagree:\n{}",
        problems.join("\n")
    );
}
