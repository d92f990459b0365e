//! `#[weft::tool]`: an async fn becomes a typed weft tool.
//!
//! ```ignore
//! /// Adds two numbers.
//! #[weft::tool]
//! async fn add_numbers(
//!     /// The first number.
//!     a: f64,
//!     /// The second number.
//!     b: f64,
//! ) -> Result<f64, weft::tools::ToolFailure> {
//!     Ok(a + b)
//! }
//! // `AddNumbers` is now a `weft::tools::Tool` named `add_numbers`, described by the doc
//! // comment; its arguments' schema has `a` and `b` with their doc comments.
//! registry.register(AddNumbers)?;
//! ```
//!
//! The fn stays callable as it was. A parameter of type `weft::core::ToolContext` (any
//! name, matched by the type's last segment) receives the call's context instead of an
//! argument. Add `#[weft::tool(idempotent)]` for a tool whose repeated call has no further
//! effect.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{
    Attribute, Expr, FnArg, GenericArgument, ItemFn, Lit, Meta, Pat, PathArguments, ReturnType,
    Type, parse_macro_input,
};

/// Turns an async fn into a typed tool (see the crate's documentation).
#[proc_macro_attribute]
pub fn tool(attribute: TokenStream, item: TokenStream) -> TokenStream {
    let idempotent = match attribute.to_string().trim() {
        "" => false,
        "idempotent" => true,
        other => {
            return syn::Error::new(
                proc_macro2::Span::call_site(),
                format!("unknown option `{other}`; the only one is `idempotent`"),
            )
            .to_compile_error()
            .into();
        }
    };
    let function = parse_macro_input!(item as ItemFn);
    match expand(function, idempotent) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(mut function: ItemFn, idempotent: bool) -> syn::Result<proc_macro2::TokenStream> {
    let signature = &function.sig;
    if signature.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            signature.fn_token,
            "#[weft::tool] needs an `async fn`",
        ));
    }
    let name = signature.ident.to_string();
    let tool_type = format_ident!("{}", pascal_case(&name));
    let arguments_type = format_ident!("{}Args", pascal_case(&name));
    let description = documentation(&function.attrs);
    if description.is_empty() {
        return Err(syn::Error::new_spanned(
            &signature.ident,
            "a tool needs a doc comment: it is the description models see",
        ));
    }
    let output = result_ok_type(&signature.output)?;
    let visibility = &function.vis;

    let mut fields = Vec::new();
    let mut call_arguments = Vec::new();
    for input in &mut function.sig.inputs {
        let FnArg::Typed(parameter) = input else {
            return Err(syn::Error::new_spanned(
                input,
                "a tool is a free fn, without `self`",
            ));
        };
        let Pat::Ident(pattern) = parameter.pat.as_ref() else {
            return Err(syn::Error::new_spanned(
                &parameter.pat,
                "name each parameter plainly (`name: Type`)",
            ));
        };
        let field = pattern.ident.clone();
        let docs: Vec<Attribute> = parameter
            .attrs
            .iter()
            .filter(|attribute| attribute.path().is_ident("doc"))
            .cloned()
            .collect();
        // Doc comments on parameters are for the schema; Rust itself does not take them.
        parameter
            .attrs
            .retain(|attribute| !attribute.path().is_ident("doc"));
        let kind = &parameter.ty;
        if last_segment(kind).as_deref() == Some("ToolContext") {
            call_arguments.push(quote! { context });
            continue;
        }
        fields.push(quote! { #(#docs)* pub #field: #kind });
        call_arguments.push(quote! { args.#field });
    }
    let function_name = &function.sig.ident;
    let arguments_doc = format!("The arguments of the `{name}` tool.");
    let tool_doc = format!("The `{name}` tool: {description}");
    Ok(quote! {
        #function

        #[doc = #arguments_doc]
        #[derive(::weft::tools::__private::serde::Deserialize, ::weft::tools::__private::schemars::JsonSchema)]
        #[serde(crate = "::weft::tools::__private::serde", deny_unknown_fields)]
        #[schemars(crate = "::weft::tools::__private::schemars")]
        #visibility struct #arguments_type {
            #(#fields,)*
        }

        #[doc = #tool_doc]
        #[derive(Debug, Clone, Copy, Default)]
        #visibility struct #tool_type;

        impl ::weft::tools::Tool for #tool_type {
            type Args = #arguments_type;
            type Output = #output;
            fn name(&self) -> &str {
                #name
            }
            fn description(&self) -> &str {
                #description
            }
            fn idempotent(&self) -> bool {
                #idempotent
            }
            async fn call(
                &self,
                args: #arguments_type,
                context: ::weft::core::ToolContext,
            ) -> ::core::result::Result<#output, ::weft::tools::ToolFailure> {
                let _ = &context;
                #function_name(#(#call_arguments),*).await
            }
        }
    })
}

/// The doc comment's text, lines joined.
fn documentation(attributes: &[Attribute]) -> String {
    attributes
        .iter()
        .filter_map(|attribute| match &attribute.meta {
            Meta::NameValue(pair) if pair.path.is_ident("doc") => match &pair.value {
                Expr::Lit(literal) => match &literal.lit {
                    Lit::Str(text) => Some(text.value().trim().to_owned()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// `T` of a `Result<T, ToolFailure>` return type.
fn result_ok_type(output: &ReturnType) -> syn::Result<Type> {
    let wrong = || {
        syn::Error::new_spanned(
            output,
            "a tool returns `Result<Output, weft::tools::ToolFailure>`",
        )
    };
    let ReturnType::Type(_, kind) = output else {
        return Err(wrong());
    };
    let Type::Path(path) = kind.as_ref() else {
        return Err(wrong());
    };
    let segment = path.path.segments.last().ok_or_else(wrong)?;
    if segment.ident != "Result" {
        return Err(wrong());
    }
    let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return Err(wrong());
    };
    match arguments.args.first() {
        Some(GenericArgument::Type(ok)) => Ok(ok.clone()),
        _ => Err(wrong()),
    }
}

fn last_segment(kind: &Type) -> Option<String> {
    match kind {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        _ => None,
    }
}

/// `add_numbers` -> `AddNumbers`.
fn pascal_case(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut characters = part.chars();
            characters
                .next()
                .map(|first| first.to_uppercase().chain(characters).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}
