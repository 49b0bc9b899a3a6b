//! The browser entry point: hydrates the islands of the server-rendered Pulse
//! pages (the live dashboard). Everything else lives in the `app` crate and
//! stays on the server.

// Links the `app` crate in, with the hydration function of each island.
#[allow(unused_imports)]
use app::*;

/// Called by the generated JavaScript once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
