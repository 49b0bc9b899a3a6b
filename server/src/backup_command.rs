//! `pulse backup --to FILE` and `pulse restore --from FILE`: an SQLite
//! store copied while the node serves, and put back onto a new data
//! directory (see `store::backup`). On Postgres they say to use `pg_dump`.

use std::path::PathBuf;

use clap::Args;

use crate::{
    config::StoreArgs,
    error_chain,
    store::backup::{self, Contents},
};

/// `pulse backup …`
#[derive(Args)]
pub struct BackupArgs {
    /// Where the data lives (the same settings as `pulse serve`).
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file to write; it must not exist.
    #[arg(long)]
    pub to: PathBuf,
}

/// `pulse restore …`
#[derive(Args)]
pub struct RestoreArgs {
    /// Where the restored data goes (the same settings as `pulse serve`);
    /// it must hold no database yet.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup to restore.
    #[arg(long)]
    pub from: PathBuf,
}

/// Takes a backup; the error is the message to print.
pub async fn backup(args: BackupArgs) -> Result<(), String> {
    let database = backup::sqlite_file(&args.store.database_url()).map_err(|e| error_chain(&e))?;
    let contents = backup::backup(&database, &args.to)
        .await
        .map_err(|error| error_chain(&error))?;
    println!(
        "backed up {} to {}: {}",
        database.display(),
        args.to.display(),
        describe(contents)
    );
    Ok(())
}

/// Restores a backup; the error is the message to print.
pub async fn restore(args: RestoreArgs) -> Result<(), String> {
    let database = backup::sqlite_file(&args.store.database_url()).map_err(|e| error_chain(&e))?;
    args.store.create_data_dir().map_err(|error| {
        format!(
            "cannot create the data directory {}: {error}",
            args.store.data_dir.display()
        )
    })?;
    let contents = backup::restore(&args.from, &database)
        .await
        .map_err(|error| error_chain(&error))?;
    println!(
        "restored {} to {}: {}; start pulse on it (the webhook secrets are not in a backup: set \
         IG_APP_SECRET and IG_VERIFY_TOKEN, or copy webhook-secrets.env)",
        args.from.display(),
        database.display(),
        describe(contents)
    );
    Ok(())
}

fn describe(contents: Contents) -> String {
    format!(
        "{} events, store version {}, {} bytes",
        contents.events, contents.version, contents.bytes
    )
}
