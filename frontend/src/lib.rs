//! The browser entry point: `hydrate()` attaches the Leptos app to the
//! server-rendered dashboard. Everything else lives in the `app` crate.

/// Called by the generated JavaScript once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
