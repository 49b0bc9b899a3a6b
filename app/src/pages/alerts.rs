//! `/admin/alerts`: where alerts go, the rules and their thresholds, and the
//! incidents so far with what was sent where.
//!
//! Rendered on the server and complete without JavaScript (there is no
//! island here): every change is a plain form posted to this page's own
//! address. The server sends the browser back here when it is done, with
//! what was done in the query; when a field is not right it renders the page
//! itself, with the form as it was typed (never a secret) and the field named,
//! and it does so too to show a new webhook's signing key, once.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    format::zoned_timestamp,
    model::{
        AlertIncident, AlertRule, AlertTarget, AlertThreshold, AlertsFormAnswer, AlertsOverview,
    },
};

/// The page's address, which its forms post to.
pub const PAGE_PATH: &str = "/admin/alerts";

/// What a change the server made reads as, by the `done` it sends back.
pub fn done_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "added" => "Target added.",
        "removed" => "Target removed: it gets no more messages.",
        "muted" => "Rule muted: its incidents are still recorded, and nobody is told of them.",
        "unmuted" => "Rule unmuted.",
        "saved" => "Thresholds saved: every node judges by them within a few seconds.",
        _ => return None,
    })
}

/// The routed page.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let query = use_query_map();
    let (done, tested) = query.with_untracked(|query| {
        (
            query.get_str("done").and_then(done_notice),
            query.get("tested"),
        )
    });
    let answer = use_context::<AlertsFormAnswer>().unwrap_or_default();
    #[cfg(feature = "ssr")]
    if answer.error.is_some() {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::BAD_REQUEST);
        }
    }
    let loaded = Resource::new_blocking(|| (), |()| load());

    view! {
        <main class="dashboard alerts">
            <header class="dashboard__header">
                <div>
                    <h1>"Alerts"</h1>
                    <p class="subtitle">"Told to someone when nobody is watching"</p>
                </div>
                <nav class="dashboard__status">
                    <a class="nav-link" href="/admin">"← Dashboard"</a>
                </nav>
            </header>
            {done.map(|text| view! { <p class="notice notice--info" role="status">{text}</p> })}
            <Suspense fallback=|| view! { <p class="loading">"Loading alerts…"</p> }>
                {move || {
                    let answer = answer.clone();
                    let tested = tested.clone();
                    Suspend::new(async move {
                        match loaded.await {
                            Ok(overview) => overview_view(overview, answer, tested).into_any(),
                            Err(message) => {
                                view! { <p class="error" role="alert">{message}</p> }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </main>
    }
}

/// Reads the overview on the server (this page is never rendered in the
/// browser). The context is taken before the future starts.
#[cfg_attr(not(feature = "ssr"), allow(clippy::manual_async_fn))]
fn load() -> impl std::future::Future<Output = Result<AlertsOverview, String>> + Send {
    #[cfg(feature = "ssr")]
    let service = use_context::<crate::server_fns::alerts::AlertsContext>();
    #[cfg(feature = "ssr")]
    let viewer = crate::server_fns::stats::Viewer::of_request();
    async move {
        #[cfg(feature = "ssr")]
        {
            let service = service.ok_or("the alerts are not available")?;
            service.0.overview(viewer).await
        }
        #[cfg(not(feature = "ssr"))]
        {
            Err("the alerts are read on the server".to_string())
        }
    }
}

fn overview_view(
    overview: AlertsOverview,
    answer: AlertsFormAnswer,
    tested: Option<String>,
) -> impl IntoView {
    let test_notice = tested.and_then(|name| {
        let target = overview.targets.iter().find(|target| target.name == name)?;
        let (_, error) = target.tested.as_ref()?;
        Some(match error {
            None => view! {
                <p class="notice notice--info" role="status" data-testid="test-outcome">
                    {format!("Test message sent to {name}.")}
                </p>
            }
            .into_any(),
            Some(error) => view! {
                <p class="notice notice--error" role="alert" data-testid="test-outcome">
                    {format!("The test message to {name} was not sent: {error}")}
                </p>
            }
            .into_any(),
        })
    });
    let key_notice = answer.signing_key.clone().map(|(name, key)| {
        view! {
            <div class="notice notice--info alerts__key" role="status">
                <p>
                    {format!("Webhook target {name} added. Its signing key, shown this once: ")}
                    "the receiver checks "<code>"X-Pulse-Signature-256"</code>
                    " = sha256=HMAC-SHA256(key, body)."
                </p>
                <pre data-testid="signing-key">{key}</pre>
            </div>
        }
    });
    let general_error = answer
        .error
        .clone()
        .filter(|(field, _)| field.is_empty())
        .map(|(_, message)| view! { <p class="notice notice--error" role="alert">{message}</p> });
    let zone = overview.zone.clone();
    let at = move |ms: i64| zoned_timestamp(ms, &zone);
    view! {
        {test_notice}
        {key_notice}
        {general_error}
        <p class="subtitle" data-testid="zone">{format!("Times in {}", overview.zone)}</p>
        {targets_view(overview.targets, &answer, &at)}
        {rules_view(overview.rules, &answer, &at)}
        {thresholds_view(overview.thresholds, &answer)}
        {incidents_view(overview.incidents, &at)}
    }
}

/// The targets, each with Send test and Remove, and the forms to add one.
fn targets_view(
    targets: Vec<AlertTarget>,
    answer: &AlertsFormAnswer,
    at: &dyn Fn(i64) -> String,
) -> impl IntoView {
    let rows = targets
        .into_iter()
        .map(|target| {
            let last_test = match &target.tested {
                None => "never".to_string(),
                Some((when, None)) => format!("sent {}", at(*when)),
                Some((when, Some(error))) => format!("failed {}: {error}", at(*when)),
            };
            let name = target.name.clone();
            view! {
                <tr data-target=target.name.clone()>
                    <td>{target.name.clone()}</td>
                    <td>{target.kind.clone()}</td>
                    <td class="alerts__place">{target.place.clone()}</td>
                    <td>{at(target.added_at_ms)}</td>
                    <td class="alerts__tested">{last_test}</td>
                    <td class="alerts__actions">
                        <form method="post" action=PAGE_PATH>
                            <input type="hidden" name="action" value="test"/>
                            <input type="hidden" name="name" value=name.clone()/>
                            <button type="submit">"Send test"</button>
                        </form>
                        <form method="post" action=PAGE_PATH>
                            <input type="hidden" name="action" value="remove"/>
                            <input type="hidden" name="name" value=name/>
                            <button type="submit" class="button--quiet">"Remove"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel alerts__targets" id="targets">
            <h2>"Where alerts go"</h2>
            <table class="alerts__table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Kind"</th>
                        <th>"Where"</th>
                        <th>"Added"</th>
                        <th>"Last test"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"Add a target"</h3>
            {add_webhook_form(answer)}
            {add_slack_form(answer)}
            {add_email_form(answer)}
        </section>
    }
    .into_any()
}

/// One labelled input of the form `action`, with what was typed in it (never
/// for a password) and its error, if it is the one that is wrong.
fn input(
    answer: &AlertsFormAnswer,
    action: &'static str,
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    required: bool,
) -> impl IntoView {
    let value = (kind != "password")
        .then(|| answer.value(name).map(str::to_string))
        .flatten()
        .unwrap_or_default();
    let error = answer.error_of(action, name).map(str::to_string);
    let invalid = error.is_some().then_some("true");
    let error_id = format!("{action}-{name}-error");
    view! {
        <label>
            {label}
            <input
                type=kind
                name=name
                value=value
                required=required
                aria-invalid=invalid
                aria-describedby=error.as_ref().map(|_| error_id.clone())
            />
            {error.map(|message| view! {
                <span class="field-error" id=error_id role="alert">{message}</span>
            })}
        </label>
    }
}

/// Whether the form `action` is the one the answer is about (kept open).
fn answered(answer: &AlertsFormAnswer, action: &str) -> bool {
    answer.action == action && answer.error.is_some()
}

fn add_webhook_form(answer: &AlertsFormAnswer) -> impl IntoView {
    let action = "add-webhook";
    view! {
        <details class="alerts__add" open=answered(answer, action)>
            <summary>"Signed webhook"</summary>
            <form method="post" action=PAGE_PATH data-testid="add-webhook">
                <input type="hidden" name="action" value=action/>
                {input(answer, action, "name", "Name", "text", true)}
                {input(answer, action, "url", "URL (http or https)", "url", true)}
                <button type="submit">"Add webhook"</button>
            </form>
        </details>
    }
}

fn add_slack_form(answer: &AlertsFormAnswer) -> impl IntoView {
    let action = "add-slack";
    view! {
        <details class="alerts__add" open=answered(answer, action)>
            <summary>"Slack (or Mattermost, Rocket.Chat) incoming webhook"</summary>
            <form method="post" action=PAGE_PATH>
                <input type="hidden" name="action" value=action/>
                {input(answer, action, "name", "Name", "text", true)}
                // The URL is the secret: never shown again, not even here.
                {input(answer, action, "url", "Incoming-webhook URL (kept secret)", "password", true)}
                <button type="submit">"Add Slack"</button>
            </form>
        </details>
    }
}

fn add_email_form(answer: &AlertsFormAnswer) -> impl IntoView {
    let action = "add-email";
    let security = answer.value("security").unwrap_or("starttls").to_string();
    let option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=security == value>{label}</option> }
    };
    view! {
        <details class="alerts__add" open=answered(answer, action)>
            <summary>"Email through an SMTP server"</summary>
            <form method="post" action=PAGE_PATH>
                <input type="hidden" name="action" value=action/>
                {input(answer, action, "name", "Name", "text", true)}
                {input(answer, action, "host", "SMTP host", "text", true)}
                {input(answer, action, "port", "Port (587 STARTTLS, 465 TLS, 25 local relay)", "number", true)}
                <label>
                    "Security"
                    <select name="security">
                        {option("starttls", "STARTTLS")}
                        {option("tls", "TLS")}
                        {option("none", "None (a local relay only)")}
                    </select>
                </label>
                {input(answer, action, "user", "Login (if the server wants one)", "text", false)}
                {input(answer, action, "password", "Password", "password", false)}
                {input(answer, action, "from", "From", "email", true)}
                {input(answer, action, "to", "To (addresses separated by commas)", "text", true)}
                <button type="submit">"Add email"</button>
            </form>
        </details>
    }
}

/// The rules: open or quiet, muted or not, with the form to mute or unmute.
fn rules_view(
    rules: Vec<AlertRule>,
    answer: &AlertsFormAnswer,
    at: &dyn Fn(i64) -> String,
) -> impl IntoView {
    let error = answer.error_of("mute", "minutes").map(
        |message| view! { <p class="notice notice--error" role="alert">{message.to_string()}</p> },
    );
    let rows = rules
        .into_iter()
        .map(|rule| {
            let state = if rule.open.is_empty() {
                "quiet".to_string()
            } else {
                rule.open
                    .iter()
                    .map(|(who, since)| match who.split_once('@') {
                        Some((_, node)) => {
                            format!("open on {node} since {}", at(*since))
                        }
                        None => format!("open since {}", at(*since)),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let open = !rule.open.is_empty();
            let mute = match rule.muted_until_ms {
                Some(until) => view! {
                    <span>{format!("muted until {}", at(until))}</span>
                    <form method="post" action=PAGE_PATH>
                        <input type="hidden" name="action" value="unmute"/>
                        <input type="hidden" name="rule" value=rule.key.clone()/>
                        <button type="submit">"Unmute"</button>
                    </form>
                }
                .into_any(),
                None => view! {
                    <form method="post" action=PAGE_PATH class="alerts__mute">
                        <input type="hidden" name="action" value="mute"/>
                        <input type="hidden" name="rule" value=rule.key.clone()/>
                        <select name="minutes" aria-label=format!("Mute {} for", rule.title)>
                            <option value="60">"1 hour"</option>
                            <option value="240">"4 hours"</option>
                            <option value="1440">"1 day"</option>
                            <option value="10080">"1 week"</option>
                        </select>
                        <button type="submit">"Mute"</button>
                    </form>
                }
                .into_any(),
            };
            view! {
                <tr data-rule=rule.key.clone() class:alerts__open=open>
                    <td>{rule.title.clone()}</td>
                    <td class="alerts__state">{state}</td>
                    <td>{mute}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel alerts__rules" id="rules">
            <h2>"Rules"</h2>
            {error}
            <table class="alerts__table">
                <thead>
                    <tr>
                        <th>"Rule"</th>
                        <th>"Now"</th>
                        <th>"Muted"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
    .into_any()
}

/// The thresholds, in one form; an empty field goes back to the default.
fn thresholds_view(thresholds: Vec<AlertThreshold>, answer: &AlertsFormAnswer) -> impl IntoView {
    let action = "thresholds";
    let fields = thresholds
        .into_iter()
        .map(|threshold| {
            let typed = (answer.action == action)
                .then(|| answer.value(&threshold.name).map(str::to_string))
                .flatten();
            let value = typed.unwrap_or_else(|| {
                if threshold.set {
                    threshold.value.to_string()
                } else {
                    String::new()
                }
            });
            let error = match &answer.error {
                Some((field, message)) if answer.action == action && *field == threshold.name => {
                    Some(message.clone())
                }
                _ => None,
            };
            view! {
                <label class="alerts__threshold">
                    <span>{threshold.label.clone()}</span>
                    <input
                        type="number"
                        name=threshold.name.clone()
                        value=value
                        min=threshold.min
                        max=threshold.max
                        placeholder=threshold.default.to_string()
                        aria-invalid=error.is_some().then_some("true")
                    />
                    <span>{threshold.unit.clone()}</span>
                    <small>
                        {format!("default {} ({})", threshold.default, threshold.setting)}
                    </small>
                    {error.map(|message| view! {
                        <span class="field-error" role="alert">{message}</span>
                    })}
                </label>
            }
        })
        .collect_view();
    view! {
        <section class="panel alerts__thresholds" id="thresholds">
            <h2>"Thresholds"</h2>
            <p class="subtitle">
                "The dashboard's warnings and the rules use these; an empty field is the setting's default."
            </p>
            <form method="post" action=PAGE_PATH data-testid="thresholds">
                <input type="hidden" name="action" value=action/>
                {fields}
                <button type="submit">"Save thresholds"</button>
            </form>
        </section>
    }
    .into_any()
}

/// The latest incidents, newest first, with each message's outcome.
fn incidents_view(incidents: Vec<AlertIncident>, at: &dyn Fn(i64) -> String) -> impl IntoView {
    let empty = incidents
        .is_empty()
        .then(|| view! { <p>"No incident yet."</p> });
    let items = incidents
        .into_iter()
        .map(|incident| {
            let when = match incident.cleared_at_ms {
                Some(cleared) => format!("{} to {}", at(incident.started_at_ms), at(cleared)),
                None => format!("since {} (open)", at(incident.started_at_ms)),
            };
            let messages = incident
                .messages
                .into_iter()
                .map(|message| {
                    view! {
                        <li class:alerts__failed=message.failed>
                            {format!("{} → {}: {}", message.event, message.target, message.outcome)}
                        </li>
                    }
                })
                .collect_view();
            view! {
                <li class="alerts__incident" data-rule=incident.rule.clone()>
                    <h3>{incident.title.clone()}</h3>
                    <p class="alerts__when">{when}</p>
                    <p>{incident.summary.clone()}</p>
                    <ul class="alerts__messages">{messages}</ul>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="panel alerts__incidents" id="incidents">
            <h2>"Incidents"</h2>
            {empty}
            <ol class="alerts__incident-list">{items}</ol>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_changes_are_said_and_an_answer_names_its_own_field() {
        assert_eq!(done_notice("added"), Some("Target added."));
        assert_eq!(done_notice("<script>"), None);
        let answer = AlertsFormAnswer {
            action: "add-email".into(),
            error: Some(("port".into(), "1 to 65535".into())),
            values: vec![("host".into(), "smtp.example.com".into())],
            signing_key: None,
        };
        assert_eq!(answer.error_of("add-email", "port"), Some("1 to 65535"));
        assert_eq!(answer.error_of("add-webhook", "port"), None);
        assert_eq!(answer.error_of("add-email", "host"), None);
        assert_eq!(answer.value("host"), Some("smtp.example.com"));
        assert!(answered(&answer, "add-email") && !answered(&answer, "add-slack"));
    }
}
