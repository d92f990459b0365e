//! Random and mutated workflow files never make the loader panic: every outcome is a
//! workflow or located diagnostics.

use proptest::prelude::*;
use std::path::Path;
use weft_workflow::{LoadError, Loader};

const SEED: &str = include_str!("../../../../workflows/approval.yaml");

fn check(source: &str) {
    match Loader::new().load_source(Path::new("fuzz.yaml"), source) {
        Ok(workflow) => assert!(!workflow.nodes.is_empty()),
        Err(LoadError::Invalid { diagnostics }) => {
            assert!(!diagnostics.is_empty());
            for diagnostic in diagnostics {
                assert!(
                    diagnostic.line >= 1 && diagnostic.column >= 1,
                    "{diagnostic}"
                );
            }
        }
        Err(LoadError::Io { .. }) => {}
        Err(error @ LoadError::NodeModel { .. }) => panic!("no node model was replaced: {error}"),
        Err(error @ LoadError::NotStored { .. }) => {
            panic!("nothing was loaded from texts: {error}")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,300}") {
        check(&source);
    }

    #[test]
    fn yaml_shaped_text_never_panics(source in "([a-z_]{1,8}: (\\{\\{ ?[a-z.]{0,10} ?\\}\\}|[a-z0-9\\[\\]{},:]{0,12})\n( {2,6})?){1,20}") {
        check(&source);
    }

    #[test]
    fn mutated_examples_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, "[ -~\n]{0,6}"), 1..6)
    ) {
        let mut text: Vec<char> = SEED.chars().collect();
        for (position, operation, insert) in edits {
            let index = position.index(text.len().max(1));
            match operation {
                0 => { text.remove(index.min(text.len().saturating_sub(1))); }
                1 => { for (offset, character) in insert.chars().enumerate() { text.insert((index + offset).min(text.len()), character); } }
                2 => { let end = (index + 12).min(text.len()); text.drain(index.min(end)..end); }
                _ => { let line_start = text[..index.min(text.len())].iter().rposition(|c| *c == '\n').map_or(0, |p| p + 1); text.insert(line_start, ' '); }
            }
        }
        let source: String = text.into_iter().collect();
        check(&source);
    }
}
