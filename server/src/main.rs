//! `pulse`: parses the command line and hands over to the library.

use std::{io::IsTerminal, process::ExitCode};

use clap::{Parser, Subcommand};
use pulse::{
    admin_command::{self, AdminArgs},
    alerts_command::{self, AlertsArgs},
    backup_command::{self, BackupArgs, RestoreArgs},
    error_chain,
    secrets::SecretsOrigin,
    simulate::{self, SimulateArgs},
    Application, Config, WebhookSecrets,
};
use tracing_subscriber::EnvFilter;

/// Pulse: a live admin dashboard for Instagram DM automation.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and the webhook endpoint (the default).
    Serve(Box<Config>),
    /// Send signed demo webhooks to a running server.
    Simulate(SimulateArgs),
    /// Create, list or delete admin accounts.
    Admin(AdminArgs),
    /// Where alerts go (Slack, signed webhooks), and the incidents so far.
    Alerts(AlertsArgs),
    /// Copy the SQLite database to a file, while the node serves.
    Backup(BackupArgs),
    /// Put a backup in place as the database of a new data directory.
    Restore(RestoreArgs),
}

/// Only used to read `serve`'s settings from the environment when no
/// subcommand is given.
#[derive(Parser)]
struct ServeDefaults {
    #[command(flatten)]
    config: Config,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn")),
        )
        // Colours for a person at a terminal, plain text for log files and journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(Box::new(ServeDefaults::parse_from(["pulse"]).config)));
    let result = runtime.block_on(async move {
        match command {
            Command::Serve(config) => serve(*config).await,
            Command::Simulate(args) => simulate(args).await,
            Command::Admin(args) => admin_command::run(args).await,
            Command::Alerts(args) => alerts_command::run(args).await,
            Command::Backup(args) => backup_command::backup(args).await,
            Command::Restore(args) => backup_command::restore(args).await,
        }
    });
    // Tasks still running (a database call that hangs) are not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut config: Config) -> Result<(), String> {
    config.read_secrets();
    let (secrets, origin) = WebhookSecrets::load_or_generate(&config.store.data_dir)
        .map_err(|error| error_chain(&error))?;
    match origin {
        SecretsOrigin::Environment => {
            tracing::info!("webhook secrets taken from IG_APP_SECRET and IG_VERIFY_TOKEN")
        }
        SecretsOrigin::File(path) => {
            tracing::info!(path = %path.display(), "webhook secrets read from the data directory")
        }
        SecretsOrigin::Generated(path) => tracing::info!(
            path = %path.display(),
            "IG_APP_SECRET / IG_VERIFY_TOKEN not set: generated random ones for local use and saved them \
             (mode 0600); set both to your Meta app's values for real traffic"
        ),
    }
    let application = Application::build(config, secrets)
        .await
        .map_err(|error| error_chain(&error))?;
    let addr = application.local_addr();
    tracing::info!("dashboard: http://{addr}/admin");
    tracing::info!(
        "demo traffic: pulse simulate --url http://{addr} --rate 5 --duration 60   (or: make demo)"
    );
    application.run(shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn simulate(args: SimulateArgs) -> Result<(), String> {
    tracing::info!(url = %args.url, rate = args.rate, duration_s = args.duration, "sending demo webhooks");
    let report = simulate::run(&args)
        .await
        .map_err(|error| error_chain(&error))?;
    tracing::info!(
        requests = report.requests,
        dms_received = report.received,
        dms_sent = report.sent,
        other_events = report.other,
        "all deliveries acknowledged"
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: closing live streams and finishing in-flight requests");
}
