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
//! ) -> Result<f64, weft::ToolFailure> {
//!     Ok(a + b)
//! }
//! // `AddNumbers` is now a `weft::Tool` named `add_numbers`, described by the doc
//! // comment; its arguments' schema has `a` and `b` with their doc comments.
//! registry.register(AddNumbers)?;
//! ```
//!
//! The fn stays callable as it was. A parameter of type `ToolContext` (any name, matched
//! by the type's last segment) receives the call's context instead of an argument. Add
//! `#[weft::tool(idempotent)]` for a tool whose repeated call has no further effect.
//!
//! The generated code names `Tool`, `ToolFailure`, `ToolContext`, `serde` and `schemars`
//! under `::weft` (the facade re-exports them). An application that depends on the thin
//! tool crate alone says where they are instead: `#[weft_macros::tool(crate = weft_tool)]`
//! (both options together: `#[weft::tool(idempotent, crate = my_reexport::weft)]`).

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{
    Attribute, Expr, FnArg, GenericArgument, ItemFn, Lit, Meta, Pat, PathArguments, ReturnType,
    Type, parse_macro_input,
};

/// Turns an async fn into a typed tool (see the crate's documentation).
#[proc_macro_attribute]
pub fn tool(attribute: TokenStream, item: TokenStream) -> TokenStream {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| options.take(meta));
    parse_macro_input!(attribute with parser);
    let function = parse_macro_input!(item as ItemFn);
    match expand(function, &options) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// What `#[weft::tool(...)]` was given.
struct Options {
    /// `idempotent`: a repeated call has no further effect.
    idempotent: bool,
    /// `crate = path`: where `Tool`, `ToolFailure`, `ToolContext`, `serde` and `schemars`
    /// are found (default `::weft`, the facade; `weft_tool` for the thin crate alone).
    crate_path: syn::Path,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            idempotent: false,
            crate_path: syn::parse_quote!(::weft),
        }
    }
}

impl Options {
    fn take(&mut self, meta: syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path.is_ident("idempotent") {
            self.idempotent = true;
            Ok(())
        } else if meta.path.is_ident("crate") {
            self.crate_path = meta.value()?.parse()?;
            Ok(())
        } else {
            Err(meta
                .error("unknown option; the options are `idempotent` and `crate = path::to::weft`"))
        }
    }
}

/// The parameters of a tool fn: the argument struct's fields and the call's arguments.
struct Parameters {
    fields: Vec<proc_macro2::TokenStream>,
    call_arguments: Vec<proc_macro2::TokenStream>,
}

/// Reads the fn's parameters; their doc comments move to the argument struct's fields.
fn parameters(function: &mut ItemFn) -> syn::Result<Parameters> {
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
    Ok(Parameters {
        fields,
        call_arguments,
    })
}

fn expand(mut function: ItemFn, options: &Options) -> syn::Result<proc_macro2::TokenStream> {
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
    let visibility = function.vis.clone();
    let function_name = function.sig.ident.clone();
    let Parameters {
        fields,
        call_arguments,
    } = parameters(&mut function)?;
    let crate_path = &options.crate_path;
    let idempotent = options.idempotent;
    // serde's and schemars's `crate = "..."` take the path as a string.
    let crate_text = quote!(#crate_path).to_string().replace(' ', "");
    let serde_path = format!("{crate_text}::serde");
    let schemars_path = format!("{crate_text}::schemars");
    let arguments_doc = format!("The arguments of the `{name}` tool.");
    let tool_doc = format!("The `{name}` tool: {description}");
    Ok(quote! {
        #function

        #[doc = #arguments_doc]
        #[derive(#crate_path::serde::Deserialize, #crate_path::schemars::JsonSchema)]
        #[serde(crate = #serde_path, deny_unknown_fields)]
        #[schemars(crate = #schemars_path)]
        #visibility struct #arguments_type {
            #(#fields,)*
        }

        #[doc = #tool_doc]
        #[derive(Debug, Clone, Copy, Default)]
        #visibility struct #tool_type;

        impl #crate_path::Tool for #tool_type {
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
                context: #crate_path::ToolContext,
            ) -> ::core::result::Result<#output, #crate_path::ToolFailure> {
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
    let wrong = || syn::Error::new_spanned(output, "a tool returns `Result<Output, ToolFailure>`");
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
