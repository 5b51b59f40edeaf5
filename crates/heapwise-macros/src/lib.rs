//! `#[heapwise::test]`: a `#[test]` whose body must stay within a memory
//! budget. Use it through `heapwise::testing::test` (cargo feature
//! `testing` of `heapwise`), which this crate exists for.
//!
//! ```ignore
//! #[heapwise::testing::test(limit_memory = "24 MiB", limit_leaks = 0)]
//! fn parses_within_budget() {
//!     let doc = parse(INPUT);
//!     assert_eq!(doc.len(), 3);
//! }
//! ```
//!
//! expands to a `#[test]` whose body runs inside
//! `heapwise::testing::limit_leaks(0, || limit_memory("24 MiB", || body))`:
//! each given limit wraps the body, the test fails with the top allocation
//! sites when one is crossed. It adds the `#[test]` itself: another test
//! attribute after it is refused, and one before it (which the attribute
//! cannot see) would run the test twice. Attribution is by scope, so tests running on
//! other threads do not count, nor do threads the test starts unless they
//! enter its scope (see `heapwise::testing`). A test returning `Result`
//! keeps its type.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Expr, Ident, ItemFn, Token};

/// One `name = value` of the attribute.
struct Arg {
    name: Ident,
    value: Expr,
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Arg> {
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        Ok(Arg { name, value })
    }
}

/// Marks a test function with memory limits: `limit_memory = "24 MiB"`
/// (the peak of live bytes during the test) and `limit_leaks = 0` (bytes
/// allocated by the test and still live at its end), either or both. See
/// the crate docs.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(attr with Punctuated::<Arg, Token![,]>::parse_terminated);
    let mut f = parse_macro_input!(item as ItemFn);
    if f.sig.asyncness.is_some() {
        return syn::Error::new_spanned(
            f.sig.fn_token,
            "#[heapwise::test] wraps a synchronous test; run async code in it with a runtime's block_on",
        )
        .to_compile_error()
        .into();
    }
    // Another test attribute, before this one (std's `#[test]` has
    // expanded then, leaving its marker) or after it: the test would be
    // registered and run twice.
    if let Some(other) = f.attrs.iter().find(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "test" || s.ident == "rustc_test_marker")
    }) {
        return syn::Error::new_spanned(
            other,
            "#[heapwise::test] makes the function a #[test] itself: remove the other test attribute (it would run twice)",
        )
        .to_compile_error()
        .into();
    }
    if args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[heapwise::test] without a limit is a plain #[test]: give limit_memory = \"24 MiB\", limit_leaks = 0, or both",
        )
        .to_compile_error()
        .into();
    }
    let mut memory = None;
    let mut leaks = None;
    for a in args {
        let slot = match a.name.to_string().as_str() {
            "limit_memory" => &mut memory,
            "limit_leaks" => &mut leaks,
            other => {
                return syn::Error::new_spanned(
                    &a.name,
                    format!(
                        "unknown limit `{other}`: use limit_memory = \"24 MiB\" or limit_leaks = 0"
                    ),
                )
                .to_compile_error()
                .into()
            }
        };
        if slot.replace(a.value).is_some() {
            return syn::Error::new_spanned(&a.name, "given twice")
                .to_compile_error()
                .into();
        }
    }
    // The body in a function of its own, named as the test and never
    // inlined: a site in it is named after the test. In a closure it was
    // inlined into heapwise's generic `Scope::run`, whose frames are
    // allocation plumbing, and a release build's sites were all libtest's
    // `__rust_begin_short_backtrace`. Lint attributes go with it.
    let block = &f.block;
    let name = &f.sig.ident;
    let output = &f.sig.output;
    let lints = f.attrs.iter().filter(|a| {
        ["allow", "warn", "deny", "forbid", "expect"]
            .iter()
            .any(|l| a.path().is_ident(l))
    });
    let inner = quote! {
        #(#lints)*
        #[inline(never)]
        fn #name() #output #block
    };
    let mut body = quote! { #name() };
    // A test returning a `Result` fails with its own `Err`, unchecked (the
    // error's bytes would count as leaked and hide it).
    let (limit_memory, limit_leaks) = if returns_result(&f.sig.output) {
        (
            quote!(limit_memory_unless_err),
            quote!(limit_leaks_unless_err),
        )
    } else {
        (quote!(limit_memory), quote!(limit_leaks))
    };
    if let Some(m) = memory {
        body = quote! { ::heapwise::testing::#limit_memory(#m, move || #body) };
    }
    if let Some(l) = leaks {
        body = quote! { ::heapwise::testing::#limit_leaks(#l, move || #body) };
    }
    f.block = syn::parse_quote! {{ #inner #body }};
    quote! {
        #[::core::prelude::v1::test]
        #f
    }
    .into()
}

/// Whether the function returns a type named `Result` (`Result<(), E>`,
/// `io::Result<()>`, `anyhow::Result<()>`): what a test returns to fail
/// with an error.
fn returns_result(output: &syn::ReturnType) -> bool {
    match output {
        syn::ReturnType::Type(_, ty) => match ty.as_ref() {
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        syn::ReturnType::Default => false,
    }
}
