//! Data a page hands from its server render to its island: JSON in a
//! `<script type="application/json">` element, read back in the browser with
//! `JSON.parse` (islands take no props, which Leptos would decode with
//! `serde_json`).

use leptos::prelude::*;

/// A value the server rendered a page with, handed to the page's island on
/// the server as context (and to the browser as JSON, see [`hand_over`]).
#[derive(Clone)]
#[cfg_attr(feature = "hydrate", allow(dead_code))]
pub(crate) struct Rendered<T>(pub T);

/// Hands `value` to the page's island: as context for its server render,
/// and as the returned `<script type="application/json" id=id>` element,
/// which [`rendered`] reads in the browser.
pub(crate) fn hand_over<T>(id: &'static str, value: T) -> impl IntoView
where
    T: serde::Serialize + Clone + Send + Sync + 'static,
{
    let json = script_json(&value);
    provide_context(Rendered(value));
    view! { <script type="application/json" id=id>{json}</script> }
}

/// The value handed over under `id`: from context on the server, from the
/// page's JSON in the browser (the default if it is missing or unreadable).
pub(crate) fn rendered<T>(id: &'static str) -> T
where
    T: crate::model::reading::Readable + Default + Clone + Send + Sync + 'static,
{
    #[cfg(feature = "hydrate")]
    {
        element_text(id)
            .and_then(|json| crate::model::reading::parse(&json))
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = id;
        use_context::<Rendered<T>>()
            .map(|Rendered(value)| value)
            .unwrap_or_default()
    }
}

/// `value` as JSON safe inside a `<script>` element: every `<` escaped, so no
/// text in it (a warning, an account id) can close the element.
pub(crate) fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
}

/// The text of the element `id`, in the browser.
#[cfg(feature = "hydrate")]
fn element_text(id: &str) -> Option<String> {
    web_sys::window()?
        .document()?
        .get_element_by_id(id)?
        .text_content()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StatsSnapshot;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let mut snapshot = StatsSnapshot::default();
        snapshot.webhook_health.warning = Some("</script><script>alert(1)</script>".to_string());
        let json = script_json(&snapshot);
        assert!(!json.contains('<'), "{json}");
        let back: StatsSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
    }
}
