//! The Pulse dashboard as a Leptos application in islands mode.
//!
//! Every page is rendered on the server (feature `ssr`); only the components
//! marked `#[island]` (the live dashboard) are compiled into the browser's
//! wasm and hydrated there (feature `hydrate`). Pages without an island, such
//! as the login page, load no wasm at all. Server-only code (contexts
//! provided by the `pulse` server) and browser-only code (the `EventSource`
//! subscription) sit behind those features.

pub mod components;
pub mod format;
mod live;
pub mod model;
pub mod pages;
pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use pages::{AdminPage, LoginPage};

/// The HTML document around the application, rendered once per page load on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                {has_islands().then(|| view! { <HydrationScripts options islands=true/> })}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The pages whose HTML holds an island, so that they load the wasm.
pub const PAGES_WITH_ISLANDS: &[&str] = &["/admin"];

/// Whether the page being rendered holds an island (the login page and the
/// error pages do not, and load no script).
fn has_islands() -> bool {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .is_some_and(|request| PAGES_WITH_ISLANDS.contains(&request.uri.path()))
    }
    #[cfg(not(feature = "ssr"))]
    {
        false
    }
}

/// The application: routes and document metadata.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "ssr")]
    set_content_security_policy();

    view! {
        <Stylesheet id="leptos" href="/pkg/pulse.css"/>
        <Title text="Pulse · Instagram DM admin"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                // Async: the server sends the page once the snapshot is in it, so
                // it reads complete without JavaScript (no streamed fallback).
                <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("login") view=LoginPage/>
            </Routes>
        </Router>
    }
}

/// Sets the page's `Content-Security-Policy`: only this origin's scripts and
/// the inline scripts Leptos marks with this response's nonce, WebAssembly
/// compilation, this origin's styles, and no framing.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}
