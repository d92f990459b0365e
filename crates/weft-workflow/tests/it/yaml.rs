//! Workflow files are read as YAML 1.2: only `true` and `false` (lower-case, capitalised or
//! upper-case) are booleans. The YAML 1.1 words (`y`, `no`, `on`, `OFF`...) stay the
//! strings they are, as values and as mapping keys, so a default of `n`, a country code
//! `NO` or a schema property named `y` means what it says.

use super::{errors, load};
use serde_json::{Value, json};
use weft_workflow::load::yaml_to_json;
use weft_workflow::workflow::NodeBody;

/// The words YAML 1.1 reads as booleans and YAML 1.2 reads as strings.
const YAML_1_1_WORDS: [&str; 16] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// The spellings of the booleans in both versions, with their values.
const BOOLEANS: [(&str, bool); 6] = [
    ("true", true),
    ("True", true),
    ("TRUE", true),
    ("false", false),
    ("False", false),
    ("FALSE", false),
];

/// A workflow that uses `word` as a state field's default, as an `enum` and a `const` in a
/// `human` node's input_schema, as the name of a schema property and, when `in_required`,
/// in `required`.
fn workflow_with(word: &str, in_required: bool) -> String {
    let required = if in_required {
        format!("x, {word}")
    } else {
        "x".to_owned()
    };
    format!(
        "name: words
state:
  choice: {{ type: any, default: {word} }}
entry: ask
nodes:
  ask:
    kind: human
    ask: Which?
    input_schema:
      type: object
      properties:
        x: {{ enum: [{word}], const: {word} }}
        {word}: {{ type: string }}
      required: [{required}]
    next: end
"
    )
}

/// The `human` node's input_schema, as loaded.
fn input_schema(source: &str) -> Value {
    let workflow = load(source);
    let Some(NodeBody::Human(human)) = workflow.nodes.get("ask").map(|node| &node.body) else {
        panic!("`ask` is a human node");
    };
    let schema = human.input_schema.as_ref().expect("an input_schema");
    let mut value = schema.schema.clone();
    value["default"] = workflow.fields["choice"].initial.clone();
    value
}

#[test]
fn yaml_1_1_words_stay_strings_as_values_keys_and_required_names() {
    for word in YAML_1_1_WORDS {
        let schema = input_schema(&workflow_with(word, true));
        let text = json!(word);
        assert_eq!(schema["default"], text, "`default: {word}`");
        assert_eq!(
            schema["properties"]["x"]["enum"],
            json!([word]),
            "`enum: [{word}]`"
        );
        assert_eq!(schema["properties"]["x"]["const"], text, "`const: {word}`");
        assert_eq!(
            schema["properties"][word],
            json!({"type": "string"}),
            "a property named `{word}`"
        );
        assert_eq!(
            schema["required"],
            json!(["x", word]),
            "`required: [x, {word}]`"
        );
    }
}

#[test]
fn true_and_false_in_every_spelling_stay_booleans() {
    for (word, flag) in BOOLEANS {
        // In `required` a boolean is no property name, and the schema would not compile.
        let schema = input_schema(&workflow_with(word, false));
        assert_eq!(schema["default"], json!(flag), "`default: {word}`");
        assert_eq!(
            schema["properties"]["x"]["enum"],
            json!([flag]),
            "`enum: [{word}]`"
        );
        assert_eq!(
            schema["properties"]["x"]["const"],
            json!(flag),
            "`const: {word}`"
        );
        // A mapping key is a name: JSON keys are text, so it keeps its spelling.
        assert_eq!(
            schema["properties"][word],
            json!({"type": "string"}),
            "a property named `{word}`"
        );
    }
}

#[test]
fn yaml_to_json_reads_yaml_1_2_too() {
    let mut source = String::new();
    for word in YAML_1_1_WORDS {
        source.push_str(&format!("{word}: {word}\n"));
    }
    for (word, _) in BOOLEANS {
        source.push_str(&format!("{word}_value: {word}\n"));
    }
    let value = yaml_to_json(&source).unwrap();
    for word in YAML_1_1_WORDS {
        assert_eq!(value[word], json!(word), "`{word}: {word}`");
    }
    for (word, flag) in BOOLEANS {
        assert_eq!(value[format!("{word}_value")], json!(flag), "`{word}`");
    }
}

#[test]
fn fields_named_with_yaml_1_1_words_are_located() {
    // The location index reads the raw text; the names it finds must be the document's.
    let found = errors(
        "name: t
state:
  no: { type: string }
  on: { type: integer }
entry: a
nodes:
  a:
    kind: router
    writes: { no: n, on: \"{{ state.on +\" }
    next: end
",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("9:26: template does not compile"),
        "{found:?}"
    );
}
