//! A tool's argument schema, derived from its argument type.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// The JSON Schema (draft 2020-12) of `T` as models are shown it: every subschema inlined
/// (no `$defs` or `$ref`), no `$schema` or `title` at the top, and every object closed with
/// `additionalProperties: false` unless its type says otherwise.
pub fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(root) = &mut schema {
        root.remove("$schema");
        root.remove("title");
    }
    close_objects(&mut schema);
    schema
}

/// Adds `additionalProperties: false` to every object schema that does not say.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(fields) => {
            if is_object_schema(fields) && !fields.contains_key("additionalProperties") {
                fields.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in fields.iter_mut() {
                // `properties` maps names to schemas; `enum`/`const`/`examples`/`default`
                // hold data, not schemas.
                match key.as_str() {
                    "enum" | "const" | "examples" | "default" => {}
                    "properties" | "patternProperties" | "$defs" => {
                        if let Value::Object(children) = value {
                            children.values_mut().for_each(close_objects);
                        }
                    }
                    _ => close_objects(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

fn is_object_schema(fields: &Map<String, Value>) -> bool {
    match fields.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        _ => fields.contains_key("properties"),
    }
}
