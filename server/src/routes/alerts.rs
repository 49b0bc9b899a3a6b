//! `POST /admin/alerts`: the alerts page's forms, told apart by their
//! `action` (`add-webhook`, `add-slack`, `add-email`, `test`, `remove`,
//! `mute`, `unmute`, `thresholds`).
//!
//! A browser is sent back to the page when the change is made (`303`, what
//! was done in the query). When a field is not right the page is rendered
//! here, `400`, with the form as typed (secrets left out) and the field
//! named; a new webhook's signing key is shown the same way, once. A script
//! (not asking for HTML) gets the status and a line of text.

use axum::{
    body::Body,
    extract::{FromRequest, Request, State},
    http::{header, request::Parts, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Form,
};
use leptos::prelude::provide_context;
use secrecy::{ExposeSecret, SecretString};

use app::{
    model::{AlertsFormAnswer, SnapshotSource},
    shell,
};

use crate::{
    alerts::{
        email::{self, EmailSettings, Security},
        manage::{self, NewTargetSpec, Refused},
        thresholds, FieldError,
    },
    clock::now_ms,
    error_chain,
    state::AppState,
};

/// The page's address, which its forms post to.
pub const PATH: &str = app::pages::alerts::PAGE_PATH;

/// What a form did.
enum Done {
    /// Back to the page, saying `done=…`.
    Said(&'static str),
    /// A test message was tried on this target: sent, or what failed.
    Tested(String, Result<(), String>),
    /// A webhook target was added: its name and signing key, shown once.
    SigningKey(String, SecretString),
}

/// Handles one of the page's forms.
pub async fn change(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let browser = super::login::wants_html(&parts.headers);
    let fields = match Form::<Vec<(String, String)>>::from_request(
        Request::from_parts(parts.clone(), body),
        &state,
    )
    .await
    {
        Ok(Form(fields)) => fields,
        Err(rejection) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("send the form's fields as application/x-www-form-urlencoded: {rejection}"),
            )
                .into_response()
        }
    };
    let form = Fields(fields);
    let action = form.get("action").to_string();
    let done = act(&state, &action, &form).await;
    let Fields(fields) = form;
    match done {
        Ok(Done::Said(said)) if browser => super::see_other(&format!("{PATH}?done={said}")),
        Ok(Done::Said(said)) => (StatusCode::OK, said).into_response(),
        // The page says how it went, from what was recorded on the target.
        Ok(Done::Tested(name, _)) if browser => {
            super::see_other(&format!("{PATH}?{}#targets", query("tested", &name)))
        }
        Ok(Done::Tested(_, Ok(()))) => (StatusCode::OK, "sent").into_response(),
        Ok(Done::Tested(_, Err(error))) => (StatusCode::BAD_GATEWAY, error).into_response(),
        Ok(Done::SigningKey(name, key)) if browser => {
            let answer = AlertsFormAnswer {
                action,
                signing_key: Some((name, key.expose_secret().to_string())),
                ..Default::default()
            };
            render(&state, parts, answer).await
        }
        Ok(Done::SigningKey(_, key)) => {
            (StatusCode::CREATED, key.expose_secret().to_string()).into_response()
        }
        Err(Refused::Field(error)) if browser => {
            let answer = AlertsFormAnswer {
                values: typed(&action, &fields),
                error: Some((error.field.to_string(), error.message)),
                action,
                signing_key: None,
            };
            render(&state, parts, answer).await
        }
        Err(Refused::Field(error)) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
        Err(Refused::Store(error)) => {
            tracing::error!(error = %error_chain(&error), action = %action, "an alerts change failed on the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the change could not be saved; nothing was changed; see the server log",
            )
                .into_response()
        }
    }
}

/// Makes the change the form `action` asks for, with its fields.
async fn act(state: &AppState, action: &str, form: &Fields) -> Result<Done, Refused> {
    let field = |name| form.get(name);
    let alerts = state.store.alerts();
    let now = now_ms();
    match action {
        "add-webhook" => {
            let spec = NewTargetSpec::Webhook {
                url: field("url").to_string(),
            };
            let key = manage::add_target(&alerts, field("name"), spec, now).await?;
            let name = field("name").trim().to_string();
            Ok(Done::SigningKey(name, key.unwrap_or_default()))
        }
        "add-slack" => {
            let spec = NewTargetSpec::Slack {
                url: SecretString::from(field("url").trim().to_string()),
            };
            manage::add_target(&alerts, field("name"), spec, now).await?;
            Ok(Done::Said("added"))
        }
        "add-email" => {
            manage::add_target(&alerts, field("name"), email_spec(form)?, now).await?;
            Ok(Done::Said("added"))
        }
        "test" => {
            let name = field("name");
            match manage::test_target(&alerts, name, state.public_url.as_deref(), now).await? {
                Some(sent) => Ok(Done::Tested(name.to_string(), sent)),
                None => Err(no_target(name)),
            }
        }
        "remove" => match alerts.remove_target(field("name")).await? {
            true => Ok(Done::Said("removed")),
            false => Err(no_target(field("name"))),
        },
        "mute" => {
            let rule = manage::rule(field("rule"), "rule")?;
            let minutes = match field("minutes").trim().parse::<i64>() {
                Ok(minutes) if (1..=525_600).contains(&minutes) => minutes,
                _ => {
                    return Err(FieldError::new(
                        "minutes",
                        "a whole number of minutes from 1 to 525600",
                    )
                    .into())
                }
            };
            alerts.mute(rule.key(), now + minutes * 60_000).await?;
            Ok(Done::Said("muted"))
        }
        "unmute" => {
            let rule = manage::rule(field("rule"), "rule")?;
            alerts.mute(rule.key(), 0).await?;
            Ok(Done::Said("unmuted"))
        }
        "thresholds" => {
            let mut values = Vec::with_capacity(thresholds::ALL.len());
            for threshold in thresholds::ALL {
                let value = threshold
                    .parse(field(threshold.name))
                    .map_err(|message| FieldError::new(threshold.name, message))?;
                values.push((threshold.name, value));
            }
            alerts.set_thresholds(&values, now).await?;
            // This node's dashboards show them at once; the others within
            // their next judgement (`alerts::watch`).
            let limits = state.alert_defaults.with_set(&alerts.thresholds().await?);
            state.publisher.set_health(limits.policy);
            if let Err(error) = state.publisher.publish_now(SnapshotSource::Manual).await {
                tracing::warn!(error = %error_chain(&error), "the dashboards wait for the next snapshot");
            }
            Ok(Done::Said("saved"))
        }
        _ => Err(FieldError::new(
            "",
            "this form is not known here: reload the page and try again",
        )
        .into()),
    }
}

/// An email target as the form describes it.
fn email_spec(form: &Fields) -> Result<NewTargetSpec, FieldError> {
    let field = |name| form.get(name);
    manage::target_name(field("name"))?;
    let port = match field("port").trim().parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => return Err(FieldError::new("port", "a port from 1 to 65535")),
    };
    let security = match field("security") {
        "starttls" | "" => Security::Starttls,
        "tls" => Security::Tls,
        "none" => Security::None,
        other => {
            return Err(FieldError::new(
                "security",
                format!("starttls, tls or none, not {other:?}"),
            ))
        }
    };
    let user = Some(field("user").trim().to_string()).filter(|user| !user.is_empty());
    let password = match &user {
        Some(_) if field("password").is_empty() => {
            return Err(FieldError::new("password", "the login's password"))
        }
        Some(_) => SecretString::from(field("password").to_string()),
        None => email::no_password(),
    };
    let settings = EmailSettings {
        host: field("host").trim().to_string(),
        port,
        security,
        user,
        from: field("from").trim().to_string(),
        to: field("to")
            .split(',')
            .map(str::trim)
            .filter(|to| !to.is_empty())
            .map(str::to_string)
            .collect(),
    };
    Ok(NewTargetSpec::Email { settings, password })
}

/// A form's fields, as posted.
struct Fields(Vec<(String, String)>);

impl Fields {
    /// The value of the field `name` (empty when not posted).
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

fn no_target(name: &str) -> Refused {
    FieldError::new("", format!("there is no target named {name:?} (any more)")).into()
}

/// What was typed in the form, to show it again: never a password, a Slack
/// URL (both secrets) or the form's own fields.
fn typed(action: &str, fields: &[(String, String)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|(name, _)| match name.as_str() {
            "action" | "password" => false,
            "url" => action != "add-slack",
            _ => true,
        })
        .cloned()
        .collect()
}

/// The alerts page for `answer`, rendered for the request `parts` as its GET.
async fn render(state: &AppState, mut parts: Parts, answer: AlertsFormAnswer) -> Response {
    let contexts = super::page_contexts(state);
    let options = state.leptos_options.clone();
    let app_state = state.clone();
    let page = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(app_state.clone());
            contexts();
            provide_context(answer.clone());
        },
        move || shell(options.clone()),
    );
    parts.method = Method::GET;
    let mut response = page(Request::from_parts(parts, Body::empty())).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `name=value`, encoded for a query string.
fn query(name: &str, value: &str) -> String {
    let mut url = reqwest::Url::parse("http://pulse/").expect("a URL");
    url.query_pairs_mut().append_pair(name, value);
    url.query().unwrap_or_default().to_string()
}
