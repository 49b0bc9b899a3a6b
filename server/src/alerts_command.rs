//! `pulse alerts …`: the places alerts go, and the incidents so far. A Slack
//! URL is a secret: it is read from standard input (or a prompt), never from
//! an argument, and never shown again; a generic webhook's signing key is
//! made here and shown once.

use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    alerts::{
        email,
        manage::{self, NewTargetSpec},
        overview, target,
    },
    clock::now_ms,
    config::StoreArgs,
    error_chain, typed_secret,
};

/// `pulse alerts …`
#[derive(Args)]
pub struct AlertsArgs {
    /// Where the data lives (the same settings as `pulse serve`).
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: AlertsAction,
}

/// The alert operations.
#[derive(Subcommand)]
pub enum AlertsAction {
    /// Send alerts by email through an SMTP server; with --user, the password
    /// is read from standard input (or asked for).
    AddEmail {
        /// A name for it, unique.
        #[arg(long)]
        name: String,
        /// The SMTP server's host name or address.
        #[arg(long)]
        host: String,
        /// Its port (587 for STARTTLS, 465 for TLS, 25 for a local relay).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// How the connection is secured.
        #[arg(long, value_enum, default_value = "starttls")]
        security: email::Security,
        /// The login, if the server wants one.
        #[arg(long)]
        user: Option<String>,
        /// The sender's address.
        #[arg(long)]
        from: String,
        /// The recipients' addresses, separated by commas.
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
    },
    /// Send alerts to a Slack-compatible incoming webhook; its URL is read
    /// from standard input (or asked for).
    AddSlack {
        /// A name for it, unique.
        #[arg(long)]
        name: String,
    },
    /// Send alerts as signed JSON to a webhook; prints the signing key once.
    AddWebhook {
        /// A name for it, unique.
        #[arg(long)]
        name: String,
        /// Where to post (http or https).
        #[arg(long)]
        url: String,
    },
    /// List the targets (never their secrets).
    List,
    /// Stop sending alerts to a target.
    Remove {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Send a test message to a target now, and say exactly what failed.
    Test {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Tell nobody of a rule's incidents for a while (they are still recorded).
    Mute {
        /// The rule: webhooks, waiting or silent_accounts.
        #[arg(long)]
        rule: String,
        /// For how many minutes.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=525_600))]
        minutes: u64,
    },
    /// Tell again of a muted rule's incidents.
    Unmute {
        /// The rule.
        #[arg(long)]
        rule: String,
    },
    /// The latest incidents and what was sent where.
    Incidents {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Runs one alerts command; the error is the message to print.
pub async fn run(args: AlertsArgs) -> Result<(), String> {
    let store = args.store.open_for_command().await?;
    let alerts = store.alerts();
    let failed = |error: crate::store::StoreError| error_chain(&error);
    match args.action {
        AlertsAction::AddEmail {
            name,
            host,
            port,
            security,
            user,
            from,
            to,
        } => {
            let name = manage::target_name(&name).map_err(|error| error.to_string())?;
            let settings = email::EmailSettings {
                host: host.trim().to_string(),
                port,
                security,
                user,
                from: from.trim().to_string(),
                to: to.iter().map(|to| to.trim().to_string()).collect(),
            };
            settings.check().map_err(|error| error.to_string())?;
            let password = match &settings.user {
                Some(user) => {
                    typed_secret::read(&format!("SMTP password for {user}: "), "password")?
                }
                None => email::no_password(),
            };
            let described = settings.describe();
            let spec = NewTargetSpec::Email { settings, password };
            add(&alerts, &name, spec, "--url").await?;
            println!("added email target {name:?}: {described}");
        }
        AlertsAction::AddSlack { name } => {
            let name = manage::target_name(&name).map_err(|error| error.to_string())?;
            let url = typed_secret::read("Slack incoming-webhook URL: ", "URL")?;
            add(
                &alerts,
                &name,
                NewTargetSpec::Slack { url },
                "the Slack URL",
            )
            .await?;
            println!("added Slack target {name:?}");
        }
        AlertsAction::AddWebhook { name, url } => {
            let spec = NewTargetSpec::Webhook { url: url.clone() };
            let key = add(&alerts, &name, spec, "--url")
                .await?
                .unwrap_or_default();
            println!(
                "added webhook target {:?} posting to {}",
                name.trim(),
                url.trim()
            );
            println!(
                "signing key (shown once; check {} = sha256=HMAC-SHA256(key, body)):",
                target::SIGNATURE_HEADER
            );
            println!("{}", key.expose_secret());
        }
        AlertsAction::List => {
            for (rule, until) in alerts.mutes(now_ms()).await.map_err(failed)? {
                println!("muted: {rule} until {}", app::format::utc_timestamp(until));
            }
            let targets = alerts.targets().await.map_err(failed)?;
            if targets.is_empty() {
                println!(
                    "  none yet: pulse alerts add-slack --name … or add-webhook --name … --url …"
                );
            }
            for target in targets {
                let created = app::format::utc_timestamp(target.created_at_ms);
                let place = overview::place(&target);
                println!("{}\t{}\t{place}\tadded {created}", target.name, target.kind);
            }
        }
        AlertsAction::Remove { name } => {
            if !alerts.remove_target(&name).await.map_err(failed)? {
                return Err(format!("no target named {name:?}"));
            }
            println!("removed target {name:?}");
        }
        AlertsAction::Mute { rule, minutes } => {
            let rule = manage::rule(&rule, "rule")
                .map_err(|error| error.to_string())?
                .key();
            let until = now_ms() + i64::try_from(minutes).unwrap_or(0) * 60_000;
            alerts.mute(rule, until).await.map_err(failed)?;
            println!("muted {rule} until {}", app::format::utc_timestamp(until));
        }
        AlertsAction::Unmute { rule } => {
            let rule = manage::rule(&rule, "rule")
                .map_err(|error| error.to_string())?
                .key();
            alerts.mute(rule, 0).await.map_err(failed)?;
            println!("unmuted {rule}");
        }
        AlertsAction::Test { name } => {
            match manage::test_target(&alerts, &name, None, now_ms())
                .await
                .map_err(failed)?
            {
                None => return Err(format!("no target named {name:?}")),
                Some(Ok(())) => println!("sent a test message to {name:?}"),
                Some(Err(error)) => {
                    return Err(format!(
                        "the test message to {name:?} was not sent: {error}"
                    ));
                }
            }
        }
        AlertsAction::Incidents { limit } => {
            for incident in alerts
                .incidents(limit.clamp(1, 1_000))
                .await
                .map_err(failed)?
            {
                let cleared = incident.cleared_at_ms.map_or("open".into(), |at| {
                    format!("cleared {}", app::format::utc_timestamp(at))
                });
                println!(
                    "#{} {}\tstarted {}\t{cleared}\t{}",
                    incident.id,
                    incident.rule,
                    app::format::utc_timestamp(incident.started_at_ms),
                    incident.summary
                );
                for message in incident.messages {
                    let outcome = overview::outcome(&message);
                    let (target, event) = (message.target, message.event);
                    println!("    {event} → {target}: {outcome}");
                }
            }
        }
    }
    Ok(())
}

/// Adds a target, or says why not (its URL said as `url_said_as`: a flag,
/// or what was read from standard input): for a generic webhook, its
/// signing key.
async fn add(
    alerts: &crate::store::alerts::Alerts<'_>,
    name: &str,
    spec: NewTargetSpec,
    url_said_as: &str,
) -> Result<Option<SecretString>, String> {
    manage::add_target(alerts, name, spec, now_ms())
        .await
        .map_err(|refused| match refused {
            manage::Refused::Field(error) if error.field == "url" => {
                format!("{url_said_as}: {}", error.message)
            }
            refused => refused.to_string(),
        })
}
