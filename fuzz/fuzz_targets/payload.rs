//! Any bytes → `payload::parse` must return, never panic, and whatever it
//! accepts must be storable: every event has a kind-prefixed natural key and
//! its raw JSON is valid JSON taken from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulse::webhook::payload;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = payload::parse(data, 1_795_631_405_000) else {
        return;
    };
    for event in events {
        assert!(event.dedupe_key.starts_with(event.kind.as_str()), "{event:?}");
        assert!(serde_json::from_str::<serde::de::IgnoredAny>(&event.raw).is_ok(), "{event:?}");
        assert_eq!(event.error.is_some(), event.kind.as_str() == "invalid", "{event:?}");
    }
});
