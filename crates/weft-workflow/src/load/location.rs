//! Where every key and value of a YAML document is, by path, so that errors found after
//! parsing (a wrong node name, a bad template) can still name file:line:column.

use serde_saphyr::granit_parser::{Event, Parser, Span};
use std::collections::HashMap;

/// One step of a path into a document: a mapping key or a list index.
pub type Path = Vec<String>;

/// A line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

/// Positions of keys and values by path.
#[derive(Debug, Default)]
pub struct LocationIndex {
    values: HashMap<Path, Position>,
    keys: HashMap<Path, Position>,
}

enum Frame {
    Mapping { path: Path, key: Option<String> },
    Sequence { path: Path, next_index: usize },
}

impl LocationIndex {
    /// Indexes `source`. A document that does not parse gives a partial index; the parse
    /// error itself is reported by the deserializer.
    pub fn build(source: &str) -> Self {
        let mut index = Self::default();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let Ok((event, span)) = item else { break };
            match event {
                Event::Scalar(text, ..) => {
                    if let Some(Frame::Mapping { path, key }) = stack.last_mut()
                        && key.is_none()
                    {
                        let mut key_path = path.clone();
                        key_path.push(text.to_string());
                        index.keys.insert(key_path, position(&span));
                        *key = Some(text.to_string());
                        continue;
                    }
                    if let Some(path) = next_value_path(&mut stack) {
                        index.values.insert(path, position(&span));
                    }
                }
                Event::Alias(..) => {
                    if let Some(path) = next_value_path(&mut stack) {
                        index.values.insert(path, position(&span));
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_mapping = matches!(event, Event::MappingStart(..));
                    let path = if stack.is_empty() {
                        Some(Path::new())
                    } else {
                        next_value_path(&mut stack)
                    };
                    // A collection used as a mapping key has no path of its own.
                    let path = path.unwrap_or_else(|| vec!["<complex key>".to_owned()]);
                    index.values.insert(path.clone(), position(&span));
                    stack.push(if is_mapping {
                        Frame::Mapping { path, key: None }
                    } else {
                        Frame::Sequence {
                            path,
                            next_index: 0,
                        }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        index
    }

    /// Where the value at `path` starts, or the nearest enclosing value that has a position.
    pub fn value(&self, path: &[String]) -> Position {
        let mut path = path.to_vec();
        loop {
            if let Some(position) = self.values.get(&path) {
                return *position;
            }
            if path.pop().is_none() {
                return Position { line: 1, column: 1 };
            }
        }
    }

    /// Where the key of the entry at `path` is, falling back to the value's position.
    pub fn key(&self, path: &[String]) -> Position {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }
}

/// The path of the value that comes next in the innermost collection, advancing it.
fn next_value_path(stack: &mut [Frame]) -> Option<Path> {
    match stack.last_mut()? {
        Frame::Mapping { path, key } => {
            let key = key.take()?;
            let mut value_path = path.clone();
            value_path.push(key);
            Some(value_path)
        }
        Frame::Sequence { path, next_index } => {
            let mut value_path = path.clone();
            value_path.push(next_index.to_string());
            *next_index += 1;
            Some(value_path)
        }
    }
}

fn position(span: &Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(parts: &[&str]) -> Path {
        parts.iter().map(|part| (*part).to_owned()).collect()
    }

    #[test]
    fn finds_keys_and_values() {
        let source = "name: x\nnodes:\n  a:\n    kind: llm\n    next:\n      - to: b\n      - {when: x, to: c}\n";
        let index = LocationIndex::build(source);
        assert_eq!(
            index.value(&path(&["name"])),
            Position { line: 1, column: 7 }
        );
        assert_eq!(
            index.key(&path(&["nodes", "a"])),
            Position { line: 3, column: 3 }
        );
        assert_eq!(
            index.value(&path(&["nodes", "a", "kind"])),
            Position {
                line: 4,
                column: 11
            }
        );
        assert_eq!(
            index.value(&path(&["nodes", "a", "next", "0", "to"])),
            Position {
                line: 6,
                column: 13
            }
        );
        assert_eq!(
            index.value(&path(&["nodes", "a", "next", "1", "to"])),
            Position {
                line: 7,
                column: 23
            }
        );
        // Unknown paths fall back to the closest known parent.
        assert_eq!(
            index.value(&path(&["nodes", "a", "missing"])),
            Position { line: 4, column: 5 }
        );
    }
}
