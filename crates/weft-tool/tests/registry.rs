//! Typed tools through the registry: schemas from argument types, every call checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use weft_core::{ErrorKind, RunId, ToolBox, ToolCall, ToolContext};
use weft_tool::{Registry, RegistryError, Tool, ToolFailure, schema_for};

/// Where to ship.
#[derive(Debug, Deserialize, JsonSchema)]
struct Address {
    /// The street and number.
    street: String,
    /// The city.
    city: String,
}

/// How fast.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Speed {
    Standard,
    Express,
}

/// The arguments of `ship`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ShipArgs {
    /// How many parcels (1 to 10).
    #[schemars(range(min = 1, max = 10))]
    parcels: u32,
    /// Where to.
    to: Address,
    /// How fast (standard unless said).
    #[serde(default)]
    speed: Option<Speed>,
}

#[derive(Debug, Serialize)]
struct Receipt {
    parcels: u32,
    address: String,
    express: bool,
    key: String,
}

struct Ship;

impl Tool for Ship {
    type Args = ShipArgs;
    type Output = Receipt;
    fn name(&self) -> &str {
        "ship"
    }
    fn description(&self) -> &str {
        "Ships parcels to an address."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: ShipArgs, context: ToolContext) -> Result<Receipt, ToolFailure> {
        if args.to.city == "Atlantis" {
            return Err(ToolFailure::invalid_arguments("nobody ships to Atlantis"));
        }
        if args.to.city == "Busy" {
            return Err(ToolFailure::retryable("the depot is busy"));
        }
        Ok(Receipt {
            parcels: args.parcels,
            address: format!("{}, {}", args.to.street, args.to.city),
            express: matches!(args.speed, Some(Speed::Express)),
            key: context.idempotency_key,
        })
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(Ship).unwrap();
    registry
}

fn context() -> ToolContext {
    ToolContext {
        run: RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    }
}

async fn call(registry: &Registry, arguments: Value) -> Result<Value, weft_core::ToolError> {
    registry.invoke("ship", arguments, context()).await
}

#[test]
fn the_schema_comes_from_the_argument_type_inlined_and_closed() {
    let schema = schema_for::<ShipArgs>();
    let text = schema.to_string();
    assert!(!text.contains("$ref") && !text.contains("$defs"), "{text}");
    assert!(schema.get("$schema").is_none() && schema.get("title").is_none());
    assert_eq!(schema["type"], json!("object"));
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["required"], json!(["parcels", "to"]));
    let to = &schema["properties"]["to"];
    assert_eq!(to["additionalProperties"], json!(false));
    assert_eq!(to["properties"]["city"]["description"], json!("The city."));
    assert_eq!(schema["properties"]["parcels"]["maximum"], json!(10));
    let spec = registry().spec("ship").unwrap();
    assert_eq!(spec.parameters, schema);
    assert_eq!(spec.description, "Ships parcels to an address.");
}

#[tokio::test]
async fn a_valid_call_reaches_the_tool_with_typed_arguments() {
    let output = call(
        &registry(),
        json!({"parcels": 2, "to": {"street": "1 Main St", "city": "Oslo"}, "speed": "express"}),
    )
    .await
    .unwrap();
    assert_eq!(
        output,
        json!({"parcels": 2, "address": "1 Main St, Oslo", "express": true, "key": "run/1/-/0/0"})
    );
    assert!(registry().is_idempotent("ship"));
    assert!(!registry().is_idempotent("nothing"));
}

#[tokio::test]
async fn invalid_arguments_name_each_path_and_the_expected_schema() {
    let error = call(
        &registry(),
        json!({"parcels": 0, "to": {"street": "1 Main St"}, "colour": "red"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    let report: Value = serde_json::from_str(&error.message).unwrap();
    assert_eq!(report["error"], json!("invalid_arguments"));
    assert_eq!(report["tool"], json!("ship"));
    let paths: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| problem["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/parcels"), "{paths:?}");
    assert!(paths.contains(&"/to"), "the missing city: {paths:?}");
    assert!(paths.contains(&"/"), "the unknown field: {paths:?}");
    assert_eq!(report["expected_schema"], schema_for::<ShipArgs>());

    let error = call(&registry(), json!("not an object")).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
}

#[tokio::test]
async fn arguments_that_are_not_json_are_reported_where_they_broke_and_never_run() {
    let call = ToolCall::from_text("c", "ship", r#"{"parcels": 2, "to": {"city": "Oslo"}"#);
    assert_eq!(call.arguments, Value::Null);
    let error = registry().call(call, context()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    let report: Value = serde_json::from_str(&error.message).unwrap();
    assert_eq!(report["error"], json!("malformed_arguments"));
    assert_eq!(report["tool"], json!("ship"));
    assert_eq!(
        report["received"],
        json!(r#"{"parcels": 2, "to": {"city": "Oslo"}"#)
    );
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("line 1 column 37"), "{message}");
    assert_eq!(report["expected_schema"], schema_for::<ShipArgs>());

    // Text that is JSON is parsed; empty text is a call without arguments.
    let parsed = ToolCall::from_text("c", "ship", r#" {"parcels": 1} "#);
    assert_eq!(parsed.arguments, json!({"parcels": 1}));
    assert_eq!(parsed.unparsed_arguments, None);
    assert_eq!(ToolCall::from_text("c", "now", "").arguments, json!({}));
}

#[tokio::test]
async fn a_tool_failure_keeps_its_kind_and_an_unknown_tool_lists_the_known_ones() {
    let failed = call(
        &registry(),
        json!({"parcels": 1, "to": {"street": "x", "city": "Atlantis"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (failed.kind, failed.message.as_str()),
        (ErrorKind::InvalidInput, "nobody ships to Atlantis")
    );
    let busy = call(
        &registry(),
        json!({"parcels": 1, "to": {"street": "x", "city": "Busy"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(busy.kind, ErrorKind::RetryableUpstream);

    let unknown = registry()
        .call(ToolCall::new("c", "shipp", json!({})), context())
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound);
    let report: Value = serde_json::from_str(&unknown.message).unwrap();
    assert_eq!(report["known_tools"], json!(["ship"]));
}

#[test]
fn a_name_is_registered_once() {
    let mut registry = registry();
    assert!(matches!(
        registry.register(Ship),
        Err(RegistryError::Duplicate(name)) if name == "ship"
    ));
}
