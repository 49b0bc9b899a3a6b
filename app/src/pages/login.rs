//! `/login`: the admin login form.
//!
//! A plain HTML form posting to `POST /api/auth/login`, so it works the same
//! with JavaScript on or off. The server sends the browser back here with the
//! reason in the query when a login fails or a session ends.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// What the page says above the form, from the query string.
pub fn notice(error: Option<&str>, reason: Option<&str>) -> Option<(&'static str, &'static str)> {
    match (error, reason) {
        (Some("credentials"), _) => Some(("error", "Wrong email or password.")),
        (Some("locked"), _) => Some((
            "error",
            "Too many failed logins from this address. Logging in from here is paused; try again in 15 minutes.",
        )),
        (Some("busy"), _) => Some((
            "error",
            "The server is checking too many logins at once. Try again in a moment.",
        )),
        (_, Some("expired")) => Some(("info", "Your session has ended. Please log in again.")),
        (_, Some("logged_out")) => Some(("info", "You are logged out.")),
        _ => None,
    }
}

/// The routed page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|query| {
            notice(query.get_str("error"), query.get_str("reason"))
                .map(|(kind, text)| view! { <p class=format!("notice notice--{kind}") role="alert">{text}</p> })
        })
    };
    view! {
        <main class="login">
            <h1>"Pulse"</h1>
            <p class="subtitle">"Instagram DM automation · admin"</p>
            {message}
            <form class="login__form" method="post" action="/api/auth/login">
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit">"Log in"</button>
            </form>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_endings_are_said_in_words() {
        assert_eq!(
            notice(Some("credentials"), None).unwrap().1,
            "Wrong email or password."
        );
        assert!(notice(Some("locked"), None)
            .unwrap()
            .1
            .starts_with("Too many failed logins"));
        assert!(notice(Some("busy"), None)
            .unwrap()
            .1
            .contains("too many logins at once"));
        assert_eq!(notice(None, Some("expired")).unwrap().0, "info");
        assert_eq!(notice(None, Some("something else")), None);
    }
}
