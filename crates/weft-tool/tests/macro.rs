//! `#[weft_macros::tool]` through this crate alone: the generated code names only what
//! `crate = weft_tool` says, so an application needs neither the facade nor serde or
//! schemars of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use weft_tool::serde_json::json;
use weft_tool::{Registry, RegistryError, Tool, ToolContext, ToolFailure};

/// Rounds a price to whole units of a currency.
#[weft_macros::tool(idempotent, crate = weft_tool)]
async fn round_price(
    /// The price in cents.
    cents: u64,
    /// The unit to round to, in cents.
    unit: u64,
) -> Result<u64, ToolFailure> {
    if unit == 0 {
        return Err(ToolFailure::invalid_arguments("the unit must not be zero"));
    }
    Ok(cents.div_ceil(unit) * unit)
}

/// Says which call this is.
#[weft_macros::tool(crate = weft_tool)]
async fn which_call(context: ToolContext) -> Result<String, ToolFailure> {
    Ok(context.idempotency_key)
}

#[tokio::test]
async fn a_tool_made_through_the_thin_crate_is_typed_and_checked() {
    assert!(RoundPrice.idempotent() && !WhichCall.idempotent());
    let mut registry = Registry::new();
    registry
        .register(RoundPrice)
        .unwrap()
        .register(WhichCall)
        .unwrap();
    let spec = weft_tool::ToolBox::spec(&registry, "round_price").unwrap();
    assert_eq!(
        spec.description,
        "Rounds a price to whole units of a currency."
    );
    assert_eq!(
        spec.parameters["properties"]["unit"]["description"],
        json!("The unit to round to, in cents.")
    );
    assert_eq!(spec.parameters["additionalProperties"], json!(false));
    let context = ToolContext {
        run: weft_core::RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    };
    let rounded = registry
        .invoke(
            "round_price",
            json!({"cents": 1234, "unit": 100}),
            context.clone(),
        )
        .await
        .unwrap();
    assert_eq!(rounded, json!(1300));
    let refused = registry
        .invoke(
            "round_price",
            json!({"cents": "a lot", "unit": 100}),
            context.clone(),
        )
        .await
        .unwrap_err();
    assert!(refused.message.contains("invalid_arguments"), "{refused}");
    assert_eq!(
        registry
            .invoke("which_call", json!({}), context)
            .await
            .unwrap(),
        json!("run/1/-/0/0")
    );
    assert!(matches!(
        registry.register(RoundPrice),
        Err(RegistryError::Duplicate(name)) if name == "round_price"
    ));
}

#[test]
fn a_project_tool_replaces_a_built_in_of_the_same_name() {
    let mut registry = Registry::new();
    registry.register_builtin(WhichCall).unwrap();
    assert_eq!(
        registry.origin("which_call"),
        Some(weft_tool::Origin::BuiltIn)
    );
    registry.register(WhichCall).unwrap();
    assert_eq!(
        registry.origin("which_call"),
        Some(weft_tool::Origin::Project)
    );
    assert_eq!(registry.shadowed().len(), 1);
    // A built-in registered after a project's tool of its name gives way too.
    registry.register_builtin(RoundPrice).unwrap();
    registry.register(RoundPrice).unwrap();
    let mut later = Registry::new();
    later.register(RoundPrice).unwrap();
    later.register_builtin(RoundPrice).unwrap();
    assert_eq!(
        later.origin("round_price"),
        Some(weft_tool::Origin::Project)
    );
    assert_eq!(later.shadowed()[0].name, "round_price");
}
