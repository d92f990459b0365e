//! `#[weft::tool]`: an async fn becomes a typed tool with a schema from its parameters.

use serde_json::{Value, json};
use weft::core::{RunId, ToolBox, ToolContext};
use weft::tools::{Registry, Tool, ToolFailure};

/// Splits a bill between people, rounding each share up to the cent.
#[weft::tool(idempotent)]
async fn split_bill(
    /// The total, in cents.
    total_cents: u64,
    /// How many people pay.
    people: u32,
) -> Result<u64, ToolFailure> {
    if people == 0 {
        return Err(ToolFailure::invalid_arguments(
            "nobody to split the bill between",
        ));
    }
    Ok(total_cents.div_ceil(u64::from(people)))
}

/// Says which call this is.
#[weft::tool]
async fn whoami(
    context: ToolContext,
    /// A greeting.
    greeting: String,
) -> Result<String, ToolFailure> {
    Ok(format!("{greeting} from {}", context.idempotency_key))
}

async fn call(
    registry: &Registry,
    name: &str,
    arguments: Value,
) -> Result<Value, weft::core::ToolError> {
    let context = ToolContext {
        run: RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    };
    registry.invoke(name, arguments, context).await
}

#[tokio::test(flavor = "current_thread")]
async fn an_annotated_fn_is_a_tool_with_its_docs_as_schema() {
    assert_eq!(SplitBill.name(), "split_bill");
    assert_eq!(
        SplitBill.description(),
        "Splits a bill between people, rounding each share up to the cent."
    );
    assert!(SplitBill.idempotent() && !Whoami.idempotent());
    let mut registry = Registry::new();
    registry.register(SplitBill).unwrap();
    registry.register(Whoami).unwrap();
    let schema = registry.spec("split_bill").unwrap().parameters;
    assert_eq!(
        schema["properties"]["total_cents"]["description"],
        json!("The total, in cents.")
    );
    assert_eq!(schema["required"], json!(["total_cents", "people"]));
    assert_eq!(schema["additionalProperties"], json!(false));

    assert_eq!(
        call(
            &registry,
            "split_bill",
            json!({"total_cents": 1000, "people": 3})
        )
        .await
        .unwrap(),
        json!(334)
    );
    let refused = call(
        &registry,
        "split_bill",
        json!({"total_cents": "ten", "people": 3}),
    )
    .await
    .unwrap_err();
    assert!(
        refused.message.contains("/total_cents"),
        "{}",
        refused.message
    );
    let failed = call(
        &registry,
        "split_bill",
        json!({"total_cents": 10, "people": 0}),
    )
    .await
    .unwrap_err();
    assert_eq!(failed.message, "nobody to split the bill between");
    // The context is passed, not asked of the model.
    assert_eq!(
        registry.spec("whoami").unwrap().parameters["required"],
        json!(["greeting"])
    );
    assert_eq!(
        call(&registry, "whoami", json!({"greeting": "hello"}))
            .await
            .unwrap(),
        json!("hello from run/1/-/0/0")
    );
    // The fn is still an ordinary fn.
    assert_eq!(split_bill(100, 4).await.unwrap(), 25);
}
