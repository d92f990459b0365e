//! `calculator`: exact decimal arithmetic on an expression. It parses numbers, `+ - * / %`
//! and parentheses itself; nothing in the expression is ever run as code.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::Deserialize;
use std::str::FromStr;
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// The longest expression taken, and the deepest nesting of parentheses and signs.
const MAX_LENGTH: usize = 2_000;
const MAX_DEPTH: usize = 64;

/// `calculator`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CalculatorArgs {
    /// An arithmetic expression of numbers (like `12`, `0.1`, `-3.5`), `+ - * / %` and
    /// parentheses, e.g. `(0.1 + 0.2) * 3`.
    pub expression: String,
}

/// Evaluates arithmetic exactly, in decimal (28 significant digits), so `0.1 + 0.2` is
/// `0.3`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calculator;

impl Tool for Calculator {
    type Args = CalculatorArgs;
    type Output = String;
    fn name(&self) -> &str {
        "calculator"
    }
    fn description(&self) -> &str {
        "Evaluates an arithmetic expression (numbers, + - * / %, parentheses) exactly in decimal and returns the result as text."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        args: CalculatorArgs,
        _context: ToolContext,
    ) -> Result<String, ToolFailure> {
        evaluate(&args.expression).map(|value| value.normalize().to_string())
    }
}

/// The value of `expression`, or what is wrong with it and where.
pub fn evaluate(expression: &str) -> Result<Decimal, ToolFailure> {
    if expression.len() > MAX_LENGTH {
        return Err(ToolFailure::invalid_arguments(format!(
            "the expression is longer than {MAX_LENGTH} characters"
        )));
    }
    let mut parser = Parser {
        text: expression.as_bytes(),
        position: 0,
        depth: 0,
    };
    let value = parser.sum()?;
    parser.skip_spaces();
    if parser.position < parser.text.len() {
        return Err(parser.error("expected an operator or the end of the expression"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    position: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> ToolFailure {
        ToolFailure::invalid_arguments(format!("at character {}: {what}", self.position + 1))
    }

    fn skip_spaces(&mut self) {
        while self
            .text
            .get(self.position)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.position += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.text.get(self.position).copied()
    }

    /// sum = product (('+' | '-') product)*
    fn sum(&mut self) -> Result<Decimal, ToolFailure> {
        let mut value = self.product()?;
        while let Some(operator @ (b'+' | b'-')) = self.peek() {
            self.position += 1;
            let right = self.product()?;
            value = if operator == b'+' {
                value.checked_add(right)
            } else {
                value.checked_sub(right)
            }
            .ok_or_else(|| self.error("the result is too large"))?;
        }
        Ok(value)
    }

    /// product = factor (('*' | '/' | '%') factor)*
    fn product(&mut self) -> Result<Decimal, ToolFailure> {
        let mut value = self.factor()?;
        while let Some(operator @ (b'*' | b'/' | b'%')) = self.peek() {
            let at = self.position;
            self.position += 1;
            let right = self.factor()?;
            if operator != b'*' && right.is_zero() {
                self.position = at;
                return Err(self.error("division by zero"));
            }
            value = match operator {
                b'*' => value.checked_mul(right),
                b'/' => value.checked_div(right),
                _ => value.checked_rem(right),
            }
            .ok_or_else(|| self.error("the result is too large"))?;
        }
        Ok(value)
    }

    /// factor = ('-' | '+') factor | number | '(' sum ')'
    fn factor(&mut self) -> Result<Decimal, ToolFailure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("the expression is nested too deeply"));
        }
        let value = match self.peek() {
            Some(b'-') => {
                self.position += 1;
                -self.factor()?
            }
            Some(b'+') => {
                self.position += 1;
                self.factor()?
            }
            Some(b'(') => {
                self.position += 1;
                let value = self.sum()?;
                if self.peek() != Some(b')') {
                    return Err(self.error("expected `)`"));
                }
                self.position += 1;
                value
            }
            Some(byte) if byte.is_ascii_digit() || byte == b'.' => self.number()?,
            Some(_) => return Err(self.error("expected a number, a sign or `(`")),
            None => return Err(self.error("the expression ends where a number was expected")),
        };
        self.depth -= 1;
        Ok(value)
    }

    fn number(&mut self) -> Result<Decimal, ToolFailure> {
        let start = self.position;
        while self
            .text
            .get(self.position)
            .is_some_and(|byte| byte.is_ascii_digit() || *byte == b'.')
        {
            self.position += 1;
        }
        let digits = std::str::from_utf8(&self.text[start..self.position]).unwrap_or_default();
        Decimal::from_str(digits).map_err(|_| {
            ToolFailure::invalid_arguments(format!(
                "at character {}: `{digits}` is not a number (or has more than 28 digits)",
                start + 1
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    fn value(expression: &str) -> String {
        evaluate(expression).unwrap().normalize().to_string()
    }

    fn error(expression: &str) -> String {
        evaluate(expression).unwrap_err().message
    }

    #[test]
    fn arithmetic_is_exact_in_decimal() {
        assert_eq!(value("0.1 + 0.2"), "0.3");
        assert_eq!(value("(0.1 + 0.2) * 3"), "0.9");
        assert_eq!(value("2 + 3 * 4"), "14");
        assert_eq!(value("(2 + 3) * 4"), "20");
        assert_eq!(value("-(-7) - -2"), "9");
        assert_eq!(value("10 / 4"), "2.5");
        assert_eq!(value("17 % 5"), "2");
        assert_eq!(value("123456789012345678 * 10"), "1234567890123456780");
    }

    #[test]
    fn bad_expressions_say_what_and_where() {
        assert_eq!(error("1 / (2 - 2)"), "at character 3: division by zero");
        assert_eq!(
            error("2 +"),
            "at character 4: the expression ends where a number was expected"
        );
        assert_eq!(
            error("2 * x"),
            "at character 5: expected a number, a sign or `(`"
        );
        assert_eq!(error("(1 + 2"), "at character 7: expected `)`");
        assert_eq!(
            error("1 2"),
            "at character 3: expected an operator or the end of the expression"
        );
        assert!(error("1.2.3").contains("`1.2.3` is not a number"));
        assert!(error("79228162514264337593543950335 * 10").contains("too large"));
        assert!(error(&"(".repeat(100)).contains("nested too deeply"));
        assert!(error(&"1+".repeat(1_500)).contains("longer than"));
        assert!(error("__import__('os')").starts_with("at character 1"));
    }
}
