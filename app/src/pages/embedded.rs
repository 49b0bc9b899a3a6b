//! Data a page hands from its server render to its island: JSON in a
//! `<script type="application/json">` element, read back in the browser with
//! `JSON.parse` (islands take no props, which Leptos would decode with
//! `serde_json`).

/// `value` as JSON safe inside a `<script>` element: every `<` escaped, so no
/// text in it (a warning, an account id) can close the element.
pub(crate) fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
}

/// The text of the element `id`, in the browser.
#[cfg(feature = "hydrate")]
pub(crate) fn element_text(id: &str) -> Option<String> {
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
