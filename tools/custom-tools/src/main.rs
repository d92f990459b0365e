//! An application with its own tools: one written as an annotated async fn, one as a
//! `Tool` impl. It registers them beside weft's built-in tools and runs
//! `workflows/custom/shipping.yaml`, which calls both.
//!
//! Run it from the repository root: `cargo run -p weft-custom-tools-example`.

use std::path::Path;
use std::sync::Arc;
use weft::serde_json::{self, json};
use weft::tools::builtin;
use weft::{Tool, ToolContext, ToolFailure};

/// Estimates the shipping cost of a parcel, in cents.
#[weft::tool(idempotent)]
async fn shipping_cost(
    /// The parcel's weight in grams.
    grams: u32,
    /// Whether it goes abroad.
    abroad: bool,
) -> Result<u32, ToolFailure> {
    if grams == 0 {
        return Err(ToolFailure::invalid_arguments("a parcel weighs something"));
    }
    let base = 450 + grams.div_ceil(500) * 120;
    Ok(if abroad { base * 2 } else { base })
}

/// The arguments of `format_price`. The derives come through weft's re-exports, so the
/// application needs no serde or schemars of its own.
#[derive(weft::serde::Deserialize, weft::schemars::JsonSchema)]
#[serde(crate = "weft::serde")]
#[schemars(crate = "weft::schemars")]
struct FormatPriceArgs {
    /// The amount in cents.
    cents: u32,
    /// The currency's code, like `EUR`.
    currency: String,
}

/// A price as people read it.
#[derive(weft::serde::Serialize)]
#[serde(crate = "weft::serde")]
struct Price {
    text: String,
}

/// Formats an amount of cents, written as a `Tool` impl by hand.
struct FormatPrice;

impl Tool for FormatPrice {
    type Args = FormatPriceArgs;
    type Output = Price;
    fn name(&self) -> &str {
        "format_price"
    }
    fn description(&self) -> &str {
        "Formats an amount of cents in a currency, like `12.50 EUR`."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        args: FormatPriceArgs,
        _context: ToolContext,
    ) -> Result<Price, ToolFailure> {
        Ok(Price {
            text: format!(
                "{}.{:02} {}",
                args.cents / 100,
                args.cents % 100,
                args.currency
            ),
        })
    }
}

/// Runs the example workflow with the custom tools; returns its output.
async fn run(workflow: &Path) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let mut tools = builtin::registry(&builtin::Workspace::new(Path::new("."))?);
    tools.register(ShippingCost)?.register(FormatPrice)?;
    let runtime = weft::Runtime::builder().tools(Arc::new(tools)).build();
    // The runtime's loader checks the workflow against the tools it was given.
    let workflow = runtime.workflow_loader().load(workflow)?;
    let run = runtime
        .start(
            workflow,
            json!({"grams": 1200}),
            &weft::runtime::CancellationToken::new(),
        )
        .await?;
    Ok(run.output().cloned().unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let output = run(Path::new("workflows/custom/shipping.yaml")).await?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_workflow_runs_with_the_custom_tools() {
        let workflow = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../workflows/custom/shipping.yaml");
        let output = super::run(&workflow).await.unwrap();
        assert_eq!(output["price"], super::json!("16.20 EUR"));
    }
}
