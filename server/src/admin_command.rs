//! `pulse admin create | list | delete`: managing admin accounts from the
//! command line. Passwords come from a prompt (or one line of standard input
//! when it is not a terminal), never from an argument.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::{auth, config::StoreArgs, error_chain, typed_secret};

/// `pulse admin …`
#[derive(Args)]
pub struct AdminArgs {
    /// Where the data lives (the same settings as `pulse serve`).
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: AdminAction,
}

/// The admin account operations.
#[derive(Subcommand)]
pub enum AdminAction {
    /// Create an admin; the password is asked for (or read from standard input).
    Create {
        /// The admin's email address, used to log in.
        #[arg(long)]
        email: String,
    },
    /// List the admins.
    List,
    /// Delete an admin and end their sessions.
    Delete {
        /// The admin's email address.
        #[arg(long)]
        email: String,
    },
}

/// Runs one admin command; the error is the message to print.
pub async fn run(args: AdminArgs) -> Result<(), String> {
    let store = args.store.open_for_command().await?;
    match args.action {
        AdminAction::Create { email } => {
            let password = read_password(&email)?;
            let email = auth::create_admin(&store, &email, &password)
                .await
                .map_err(|error| error_chain(&error))?;
            println!("created admin {email}; log in at /login");
        }
        AdminAction::List => {
            let admins = store
                .accounts()
                .list_admins()
                .await
                .map_err(|error| error_chain(&error))?;
            if admins.is_empty() {
                println!(
                    "  none yet: create one with `pulse admin create --email you@example.com` \
                     (from the repository: make admin EMAIL=you@example.com)"
                );
            }
            for admin in admins {
                let created = app::format::utc_timestamp(admin.created_at_ms);
                println!("{}\tcreated {created}", admin.email);
            }
        }
        AdminAction::Delete { email } => {
            let email = auth::normalise_email(&email)
                .ok_or_else(|| format!("{email:?} is not an email address"))?;
            let deleted = store
                .accounts()
                .delete_admin(&email)
                .await
                .map_err(|error| error_chain(&error))?;
            if !deleted {
                return Err(format!("no admin with the email {email}"));
            }
            println!("deleted admin {email} and ended their sessions");
        }
    }
    Ok(())
}

/// Asks twice at a terminal; otherwise reads one line from standard input.
fn read_password(email: &str) -> Result<SecretString, String> {
    let password = typed_secret::read(&format!("Password for {email}: "), "password")?;
    if std::io::stdin().is_terminal() {
        let again = typed_secret::read("Repeat it: ", "password")?;
        if password.expose_secret() != again.expose_secret() {
            return Err("the two passwords differ; nothing was created".to_string());
        }
    }
    Ok(password)
}
