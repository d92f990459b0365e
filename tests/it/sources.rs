//! House rules that the compiler does not check, checked against the sources of every
//! crate: no function over 80 lines and no file over 650 outside tests, and no two files of
//! a crate that import each other (directly or around a loop; a crate's lib.rs, which only
//! re-exports, does not count).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FUNCTION_LINES: usize = 80;
const MAX_FILE_LINES: usize = 650;

/// The `src` folders of the workspace: the facade's and every crate's.
fn source_roots() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![root.join("src")];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .filter(|path| path.is_dir())
        .collect();
    crates.sort();
    roots.extend(crates);
    roots.push(root.join("tools/custom-tools/src"));
    roots
}

fn rust_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// The file's lines with comments, string and character literals blanked, and the unit
/// test module (`#[cfg(test)] mod tests { ... }`) cut off.
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block_comment = false;
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let mut code = String::new();
        let mut characters = line.chars().peekable();
        let mut in_string = false;
        while let Some(character) = characters.next() {
            if in_block_comment {
                if character == '*' && characters.peek() == Some(&'/') {
                    characters.next();
                    in_block_comment = false;
                }
                continue;
            }
            if in_string {
                match character {
                    '\\' => {
                        characters.next();
                    }
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match character {
                '/' if characters.peek() == Some(&'/') => break,
                '/' if characters.peek() == Some(&'*') => {
                    characters.next();
                    in_block_comment = true;
                }
                '"' => {
                    in_string = true;
                    code.push('"');
                }
                '\'' => {
                    // A character literal ('{', '\''), or a lifetime ('a), which stays.
                    let rest: String = characters.clone().take(3).collect();
                    if rest.starts_with('\\') {
                        let skip = rest.find('\'').map_or(0, |end| end + 1);
                        for _ in 0..skip.max(2) {
                            characters.next();
                        }
                    } else if rest.chars().nth(1) == Some('\'') {
                        characters.next();
                        characters.next();
                    } else {
                        code.push('\'');
                    }
                }
                other => code.push(other),
            }
        }
        lines.push(code);
    }
    lines
}

/// Functions longer than the limit in `lines`: (first line, name, length).
fn long_functions(lines: &[String]) -> Vec<(usize, String, usize)> {
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = function_name(line) else {
            continue;
        };
        let mut depth = 0i64;
        let mut opened = false;
        for (offset, body_line) in lines[start..].iter().enumerate() {
            for character in body_line.chars() {
                match character {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if !opened && body_line.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                if offset + 1 > MAX_FUNCTION_LINES {
                    long.push((start + 1, name.clone(), offset + 1));
                }
                break;
            }
        }
    }
    long
}

fn function_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let position = words.iter().position(|word| *word == "fn")?;
    let before_ok = words[..position].iter().all(|word| {
        matches!(*word, "pub" | "async" | "const" | "unsafe" | "extern") || word.starts_with("pub(")
    });
    let name = words.get(position + 1)?;
    before_ok.then(|| name.split(['(', '<']).next().unwrap_or_default().to_owned())
}

#[test]
fn no_function_or_file_is_too_long() {
    let mut problems = Vec::new();
    for root in source_roots() {
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines = code_lines(&text);
            if lines.len() > MAX_FILE_LINES {
                problems.push(format!("{}: {} lines", file.display(), lines.len()));
            }
            for (line, name, length) in long_functions(&lines) {
                problems.push(format!(
                    "{}:{line}: fn {name} has {length} lines",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "split these (functions under {MAX_FUNCTION_LINES} lines, files under {MAX_FILE_LINES}):\n{}",
        problems.join("\n")
    );
}

/// A module's path in its crate (`machine/activity`), from its file.
fn module_of(root: &Path, file: &Path) -> (Vec<String>, bool) {
    let relative = file.strip_prefix(root).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    let is_root = matches!(
        path.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    );
    if is_root {
        path.pop();
    }
    (path, is_root)
}

/// The paths a file names: every `use` (braces expanded) and every `crate::`, `super::`
/// or `self::` path in its code.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        // The statement's `use` starts a line (attributes such as `#[cfg(...)]` may come
        // before it on lines of their own).
        let mut offset = 0;
        for line in statement.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            let visibility = words
                .iter()
                .take_while(|word| **word == "pub" || word.starts_with("pub("))
                .count();
            if words.get(visibility) == Some(&"use") {
                let start = offset + line.len() - trimmed.len();
                let after = &statement[start..];
                if let Some(position) = after.find("use ") {
                    expand(&[], after[position + 4..].trim(), &mut paths);
                }
                break;
            }
            offset += line.len();
        }
    }
    let text = code;
    for head in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = text[from..].find(head) {
            let start = from + found;
            from = start + head.len();
            let before = text[..start].chars().last();
            if before.is_some_and(|character| {
                character.is_alphanumeric() || character == '_' || character == ':'
            }) {
                continue;
            }
            let path: String = text[start..]
                .chars()
                .take_while(|character| {
                    character.is_alphanumeric() || *character == '_' || *character == ':'
                })
                .collect();
            paths.push(
                path.split("::")
                    .filter(|part| !part.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    paths
}

/// `a::{b, c::{d, e}}` as the paths it names.
fn expand(prefix: &[String], text: &str, paths: &mut Vec<Vec<String>>) {
    let text = text.trim();
    if let Some(open) = text.find('{') {
        let mut base = prefix.to_vec();
        base.extend(
            text[..open]
                .split("::")
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(str::to_owned),
        );
        let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
        let mut depth = 0;
        let mut current = String::new();
        for character in inner.chars() {
            match character {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &current, paths);
                    current.clear();
                    continue;
                }
                _ => {}
            }
            current.push(character);
        }
        expand(&base, &current, paths);
    } else if !text.is_empty() {
        let mut path = prefix.to_vec();
        let name = text.split(" as ").next().unwrap_or(text);
        path.extend(name.split("::").map(|part| part.trim().to_owned()));
        paths.push(path);
    }
}

/// The modules each file of a crate imports from (edges into the crate root left out).
fn import_graph(root: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeMap<Vec<String>, (PathBuf, bool)> = files
        .iter()
        .map(|file| {
            let (module, is_root) = module_of(root, file);
            (module, (file.clone(), is_root))
        })
        .collect();
    let mut graph = BTreeMap::new();
    for (module, (file, is_root)) in &modules {
        let code = code_lines(&std::fs::read_to_string(file).unwrap()).join("\n");
        let mut targets = BTreeSet::new();
        for path in named_paths(&code) {
            let Some((head, rest)) = path.split_first() else {
                continue;
            };
            let (mut target, rest): (Vec<String>, Vec<String>) = match head.as_str() {
                "crate" => (Vec::new(), rest.to_vec()),
                "self" => (module.clone(), rest.to_vec()),
                "super" => {
                    let mut base = module[..module.len().saturating_sub(1)].to_vec();
                    let mut rest = rest.to_vec();
                    while rest.first().map(String::as_str) == Some("super") {
                        base.pop();
                        rest.remove(0);
                    }
                    (base, rest)
                }
                child
                    if *is_root && {
                        let mut candidate = module.clone();
                        candidate.push(child.to_owned());
                        modules.contains_key(&candidate)
                    } =>
                {
                    (module.clone(), path.clone())
                }
                _ => continue,
            };
            for segment in rest {
                let mut deeper = target.clone();
                deeper.push(segment);
                if modules.contains_key(&deeper) {
                    target = deeper;
                } else {
                    break;
                }
            }
            if target != *module && !target.is_empty() {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// A loop of modules importing each other, if the graph has one.
fn find_loop(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(position) = stack.iter().position(|entry| entry == node) {
            return Some(
                stack[position..]
                    .iter()
                    .map(|module| module.join("/"))
                    .collect(),
            );
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(found) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(found);
        }
    }
    None
}

#[test]
fn no_two_files_import_each_other() {
    let mut problems = Vec::new();
    for root in source_roots() {
        if let Some(found) = find_loop(&import_graph(&root)) {
            problems.push(format!("{}: {}", root.display(), found.join(" -> ")));
        }
    }
    assert!(
        problems.is_empty(),
        "files that import each other (move what both need into a file of its own):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    let text = "fn short() {\n    let brace = '{';\n    let text = \"}}}\";\n}\n".to_owned()
        + "pub async fn long() {\n"
        + &"    step();\n".repeat(MAX_FUNCTION_LINES)
        + "}\n";
    let long = long_functions(&code_lines(&text));
    assert_eq!(long, vec![(5, "long".to_owned(), MAX_FUNCTION_LINES + 2)]);
    let mut paths = Vec::new();
    expand(&[], "super::{a::X, b::{c, d as e}}", &mut paths);
    assert_eq!(
        paths,
        vec![
            vec!["super", "a", "X"],
            vec!["super", "b", "c"],
            vec!["super", "b", "d"],
        ]
    );
    let mut graph = BTreeMap::new();
    graph.insert(vec!["a".to_owned()], BTreeSet::from([vec!["b".to_owned()]]));
    graph.insert(vec!["b".to_owned()], BTreeSet::from([vec!["a".to_owned()]]));
    assert_eq!(
        find_loop(&graph),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
}
