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
    ParamSegment, SsrMode, StaticSegment,
};

use pages::{AccountPageView, Accounts, AdminPage, AlertsPage, LoginPage};

/// The HTML document around the application, rendered once per page load on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                {has_islands().then(|| view! { <IslandScripts options/> })}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Loads the wasm and hydrates the page's islands as soon as the module is
/// in, in place of Leptos's `HydrationScripts` for islands, which waits for
/// the browser to be idle first (`requestIdleCallback`): measured here, the
/// dashboard went live 30–45 ms later that way (median of ten loads). A live
/// dashboard is there to be live, so it does not wait. The islands must not
/// be nested (none is: the dashboard is one island).
#[component]
fn IslandScripts(options: LeptosOptions) -> impl IntoView {
    // In islands mode the HTML outside islands carries no hydration marks.
    if let Some(context) = leptos::reactive::owner::Owner::current_shared_context() {
        context.set_is_hydrating(false);
    }
    let nonce = leptos::nonce::use_nonce();
    let pkg = format!("/{}", options.site_pkg_dir);
    let js = format!("{pkg}/{}.js", options.output_name);
    // cargo-leptos names the wasm like the js; a plain wasm-bindgen build adds `_bg`.
    let wasm_suffix = if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
        ""
    } else {
        "_bg"
    };
    let wasm = format!("{pkg}/{}{wasm_suffix}.wasm", options.output_name);
    let script = format!(
        "import init, * as islands from {js:?};\n\
         await init({{ module_or_path: {wasm:?} }});\n\
         islands.hydrate();\n\
         for (const island of document.querySelectorAll(\"leptos-island\")) {{\n\
         \x20 const hydrate = islands[island.dataset.component];\n\
         \x20 if (hydrate) await hydrate(island);\n\
         \x20 else console.warn(`no hydration function for the island ${{island.dataset.component}}`);\n\
         }}"
    );
    view! {
        <link rel="modulepreload" href=js.clone()/>
        <link rel="preload" href=wasm r#as="fetch" r#type="application/wasm" crossorigin=""/>
        <script type="module" nonce=nonce>{script}</script>
    }
}

/// The pages whose HTML holds an island, so that they load the wasm.
pub const PAGES_WITH_ISLANDS: &[&str] = &["/admin", "/admin/accounts"];

/// Whether the page at `path` holds an island: one of
/// [`PAGES_WITH_ISLANDS`], or an account's page (`/admin/accounts/{id}`).
pub fn has_island(path: &str) -> bool {
    PAGES_WITH_ISLANDS.contains(&path)
        || path
            .strip_prefix("/admin/accounts/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether the page being rendered holds an island (the login page and the
/// error pages do not, and load no script).
fn has_islands() -> bool {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().is_some_and(|request| has_island(request.uri.path()))
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
                <Route
                    path=(StaticSegment("admin"), StaticSegment("accounts"))
                    view=Accounts
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("accounts"), ParamSegment("id"))
                    view=AccountPageView
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("alerts"))
                    view=AlertsPage
                    ssr=SsrMode::Async
                />
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
