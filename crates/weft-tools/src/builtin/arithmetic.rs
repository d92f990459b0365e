//! `echo` and `add`: small pure tools, handy in examples and tests.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Number, Value, json};
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// `echo`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to return.
    pub text: String,
}

/// Returns the text it is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Tool for Echo {
    type Args = EchoArgs;
    type Output = String;
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Returns the text it is given."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: EchoArgs, _context: ToolContext) -> Result<String, ToolFailure> {
        Ok(args.text)
    }
}

/// `add`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// The first number.
    pub a: Number,
    /// The second number.
    pub b: Number,
}

/// Adds two numbers: exactly for integers, in floating point otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Add;

impl Tool for Add {
    type Args = AddArgs;
    type Output = Value;
    fn name(&self) -> &str {
        "add"
    }
    fn description(&self) -> &str {
        "Adds two numbers."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: AddArgs, _context: ToolContext) -> Result<Value, ToolFailure> {
        if let (Some(a), Some(b)) = (args.a.as_i64(), args.b.as_i64())
            && let Some(sum) = a.checked_add(b)
        {
            return Ok(json!(sum));
        }
        let sum = args.a.as_f64().unwrap_or(f64::NAN) + args.b.as_f64().unwrap_or(f64::NAN);
        Number::from_f64(sum)
            .map(Value::Number)
            .ok_or_else(|| ToolFailure::invalid_arguments("the sum is not a finite number"))
    }
}
