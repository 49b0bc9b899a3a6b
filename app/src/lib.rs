//! The Pulse dashboard as a Leptos application.
//!
//! Rendered on the server (feature `ssr`) and hydrated in the browser (feature
//! `hydrate`). Server-only code (contexts provided by the `pulse` server) and
//! browser-only code (the `EventSource` subscription) sit behind those features.

pub mod components;
pub mod format;
pub mod model;
pub mod pages;
pub mod server_fns;

#[cfg(feature = "hydrate")]
mod live;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use pages::AdminPage;

/// The HTML document around the application, rendered once per page load on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: routes and document metadata.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/pulse.css"/>
        <Title text="Pulse · Instagram DM admin"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                // Async: the server sends the page once the snapshot is in it, so
                // it reads complete without JavaScript (no streamed fallback).
                <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
