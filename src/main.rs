//! The `hookpost` command: parses arguments, sets up logging and signals, and hands over
//! to the library.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookpost::api::admin::{CreatedToken, TokenObject};
use hookpost::auth::Principal;
use hookpost::config::ServeConfig;
use hookpost::core::admin::TokenRequest;
use hookpost::core::{Core, CoreError};
use hookpost::domain::hook::{HookInput, HookRules, HookSettings};
use hookpost::domain::names::Login;
use hookpost::domain::secret::Secret;
use hookpost::domain::timestamp::Timestamp;
use hookpost::metrics::Metrics;
use hookpost::store::{self, AppId, Store, StoreConfig, TokenScope};
use hookpost::tools;
use hookpost::tools::listen::ListenConfig;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's allocator: a delivery's buffers (its payload, request and
/// response, a few KB each, freed on other threads) kept glibc's `malloc`/`free` and their
/// consolidation at ~18 % of the server's CPU under load (`perf`, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hookpost",
    version,
    about = "A GitHub-compatible webhook delivery server"
)]
struct Cli {
    /// How log lines look: `pretty` for people, `json` for log collectors.
    #[arg(
        long,
        global = true,
        env = "HOOKPOST_LOG_FORMAT",
        default_value = "pretty"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and deliver webhooks.
    Serve(Box<ServeConfig>),
    /// Create or upgrade the database schema, then exit.
    Migrate(StoreConfig),
    /// Manage owner tokens (works while `serve` runs on the same database).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Register and install GitHub Apps (works while `serve` runs on the same database).
    #[command(subcommand)]
    App(AppCommand),
    /// Publish events to a running server: one from FILE (or `-`), or many with `--ndjson`.
    Publish(PublishArgs),
    /// Attempt once more every failed delivery of a hook published in a window, on a
    /// running server, with a progress bar.
    Recover(RecoverArgs),
    /// Receive webhooks locally: print each delivery with its signatures checked.
    Listen(ListenConfig),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("owner").required(true).args(["repository", "organization"])))]
struct RecoverArgs {
    /// The server's origin, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "HOOKPOST_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A token that manages the hook.
    #[arg(long, env = "HOOKPOST_TOKEN", hide_env_values = true)]
    token: String,
    /// owner/name of the hook's repository.
    #[arg(long = "repo")]
    repository: Option<String>,
    /// The hook's organization.
    #[arg(long = "org")]
    organization: Option<String>,
    /// The hook's id.
    #[arg(long)]
    hook: i64,
    /// The oldest publish time recovered: an ISO 8601 time, or how long ago (`24h`).
    #[arg(long)]
    since: String,
    /// The newest publish time recovered (default: now).
    #[arg(long)]
    until: Option<String>,
    /// How long to follow the progress before leaving the recovery to run on.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    wait: std::time::Duration,
}

#[derive(clap::Args)]
struct PublishArgs {
    /// The server's origin, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "HOOKPOST_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A token that may publish to the repository or organization.
    #[arg(long, env = "HOOKPOST_TOKEN", hide_env_values = true)]
    token: String,
    /// owner/name of the repository the event happened in.
    #[arg(long = "repo", conflicts_with = "ndjson")]
    repository: Option<String>,
    /// The organization whose hooks receive the event.
    #[arg(long = "org", conflicts_with = "ndjson")]
    organization: Option<String>,
    /// The event's name, e.g. `issues`.
    #[arg(long, required_unless_present = "ndjson")]
    event: Option<String>,
    /// A file with one `{"event", "repository", "payload"}` object per line.
    #[arg(long)]
    ndjson: Option<std::path::PathBuf>,
    /// The payload: a JSON file, or `-` for standard input.
    #[arg(required_unless_present = "ndjson", conflicts_with = "ndjson")]
    file: Option<String>,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Register an app and its webhook; prints its id, slug, client id and private key
    /// (shown this once) as JSON.
    Create {
        #[arg(long)]
        name: String,
        /// An event the app's webhook receives; repeat for several (default: push).
        #[arg(long = "event")]
        events: Vec<String>,
        /// Where the app's webhook delivers.
        #[arg(long)]
        url: String,
        #[arg(long)]
        secret: Option<String>,
        /// `json` or `form`.
        #[arg(long, default_value = "json")]
        content_type: String,
        /// `github` (X-Hub-Signature-256), `standard` (Standard Webhooks; the secret must
        /// be `whsec_` and the base64 of 24 to 64 random bytes) or `both`.
        #[arg(long, default_value = "github")]
        signature: String,
        /// The app hook's own retry schedule (`10s,1m,1h`, or `none`); the server's when
        /// not given.
        #[arg(long)]
        retry_schedule: Option<String>,
        /// At most this many deliveries per second to the app hook (every attempt counts);
        /// no limit when not given.
        #[arg(long)]
        rate_limit: Option<u32>,
        /// `none`, or `fifo`: the app hook gets its deliveries one at a time, in commit order.
        #[arg(long, default_value = "none")]
        ordering: String,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Install an app on an account (user or organization); prints the installation as JSON.
    Install {
        #[arg(long = "app")]
        app_id: AppId,
        #[arg(long, value_parser = parse_login)]
        account: Login,
        #[command(flatten)]
        store: StoreConfig,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for the given owners; prints it as JSON (the token is shown this once).
    Create {
        /// An account (user or organization) the token may manage; repeat for several.
        #[arg(long = "owner", required = true, value_parser = parse_login)]
        owners: Vec<Login>,
        /// `manage`: the owners' hooks and publishing; `publish`: publishing only.
        #[arg(long, default_value = "manage", value_parser = parse_scope)]
        scope: TokenScope,
        /// Refuse the token after this long, e.g. `90days` (default: never).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Print every token's record (never a token) as a JSON array, revoked ones included.
    List {
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Revoke a token: every node refuses it within a second, and its web sessions end.
    Revoke {
        /// The token's id (from `create` or `list`).
        id: i64,
        #[command(flatten)]
        store: StoreConfig,
    },
}

fn parse_scope(text: &str) -> Result<TokenScope, String> {
    TokenScope::parse(text).ok_or_else(|| format!("{text:?} is neither manage nor publish"))
}

fn parse_login(text: &str) -> Result<Login, String> {
    Login::parse(text).ok_or_else(|| format!("{text:?} is not an account name"))
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Err(error) = read_old_environment_names(&mut cli.command) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // The PostgreSQL driver logs every statement's parameters (hook secrets among them) at
    // debug level: those lines are never wanted, whatever RUST_LOG asks for.
    let filter = filter.add_directive(
        "tokio_postgres::query=info"
            .parse()
            .expect("a valid directive"),
    );
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Pretty => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    let runtime = tokio::runtime::Runtime::new().expect("the OS can start threads");
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `HOOKPOST_PER_HOST_CONCURRENCY`, the old name of `HOOKPOST_PER_DESTINATION_CONCURRENCY`,
/// still counts when the new one is not set and the flag (old name or new) was not given.
fn read_old_environment_names(command: &mut Command) -> Result<(), String> {
    const OLD: &str = "HOOKPOST_PER_HOST_CONCURRENCY";
    let Command::Serve(config) = command else {
        return Ok(());
    };
    let default = hookpost::delivery::DeliveryConfig::default().per_destination_concurrency;
    if std::env::var_os("HOOKPOST_PER_DESTINATION_CONCURRENCY").is_some()
        || config.delivery.per_destination_concurrency != default
    {
        return Ok(());
    }
    if let Some(old) = std::env::var_os(OLD) {
        let old = old.to_string_lossy();
        config.delivery.per_destination_concurrency = old
            .trim()
            .parse()
            .map_err(|_| format!("{OLD} must be a whole number, not {old:?}"))?;
    }
    Ok(())
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => {
            let listener = hookpost::connections::listen(config.listen)
                .with_context(|| format!("Failed to listen on {}", config.listen))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            hookpost::run(*config, listener, shutdown).await
        }
        Command::Migrate(config) => {
            let store = store::open(&config).await?;
            store.close().await;
            eprintln!("the database is up to date");
            Ok(())
        }
        Command::Token(command) => token_command(command).await,
        Command::App(command) => app_command(command).await,
        Command::Publish(args) => publish(args).await,
        Command::Recover(args) => recover(args).await,
        Command::Listen(config) => tools::listen::run(config).await,
    }
}

async fn token_command(command: TokenCommand) -> anyhow::Result<()> {
    let (TokenCommand::Create { store, .. }
    | TokenCommand::List { store }
    | TokenCommand::Revoke { store, .. }) = &command;
    let store = store::open(store).await?;
    let core = admin_core(&store);
    let printed = match command {
        TokenCommand::Create {
            owners,
            scope,
            expires_in,
            ..
        } => core
            .create_token(
                &Principal::Admin,
                TokenRequest {
                    owners,
                    scope,
                    expires_at: expires_in.map(|wait| Timestamp::now().after(wait)),
                },
            )
            .await
            .context("Failed to create the token")
            .and_then(|(record, token)| {
                Ok(serde_json::to_string(&CreatedToken {
                    token: token.expose().to_owned(),
                    record: TokenObject::from(&record),
                })?)
            }),
        TokenCommand::List { .. } => core
            .tokens(&Principal::Admin)
            .await
            .context("Failed to list the tokens")
            .and_then(|tokens| {
                let objects: Vec<TokenObject> = tokens.iter().map(TokenObject::from).collect();
                Ok(serde_json::to_string_pretty(&objects)?)
            }),
        TokenCommand::Revoke { id, .. } => match core.revoke_token(&Principal::Admin, id).await {
            Ok(record) => Ok(serde_json::to_string(&TokenObject::from(&record))?),
            Err(CoreError::NotFound) => Err(anyhow::anyhow!("there is no token {id}")),
            Err(error) => Err(anyhow::Error::from(error).context("Failed to revoke the token")),
        },
    };
    store.close().await;
    println!("{}", printed?);
    Ok(())
}

async fn recover(args: RecoverArgs) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let instant = |text: &str| tools::recover::parse_instant(text, now).map_err(anyhow::Error::msg);
    let since = instant(&args.since)?;
    let until = args.until.as_deref().map(instant).transpose()?;
    let hook = match (&args.repository, &args.organization) {
        (Some(repository), _) => format!("/repos/{repository}/hooks/{}", args.hook),
        (None, organization) => {
            let organization = organization.as_deref().unwrap_or_default();
            format!("/orgs/{organization}/hooks/{}", args.hook)
        }
    };
    let target = tools::Target {
        server: args.server,
        token: args.token,
    };
    tools::recover::run(
        &target,
        &tools::recover::HookPath(hook),
        since,
        until,
        args.wait,
    )
    .await
}

async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let target = tools::Target {
        server: args.server,
        token: args.token,
    };
    if let Some(path) = args.ndjson {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        let summary = tools::publish::publish_ndjson(&target, &text).await;
        if !summary.refused.is_empty() {
            anyhow::bail!("{} lines were not published", summary.refused.len());
        }
        return Ok(());
    }
    let payload = match args.file.as_deref() {
        Some("-") | None => {
            std::io::read_to_string(std::io::stdin()).context("Failed to read standard input")?
        }
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("Failed to read {path}"))?
        }
    };
    let event = args.event.unwrap_or_default();
    tools::publish::publish_one(
        &target,
        &event,
        args.repository.as_deref(),
        args.organization.as_deref(),
        &payload,
    )
    .await
}

async fn app_command(command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Create {
            name,
            events,
            url,
            secret,
            content_type,
            signature,
            retry_schedule,
            rate_limit,
            ordering,
            store,
        } => {
            let events = if events.is_empty() {
                vec!["push".to_owned()]
            } else {
                events
            };
            let input = HookInput {
                active: true,
                events,
                url,
                content_type,
                // An empty secret is none, as in the API.
                secret: secret.map(Secret::new),
                signature: Some(signature),
                retry_schedule,
                rate_limit: rate_limit.map(|rate| rate.to_string()),
                ordering: Some(ordering),
                ..HookInput::default()
            };
            let hook = HookSettings::new(&input, &HookRules::default())
                .map_err(|errors| anyhow::anyhow!("invalid app: {}", errors.summary()))?;
            let store = store::open(&store).await?;
            let registered = admin_core(&store)
                .register_app(&Principal::Admin, &name, hook, None)
                .await;
            store.close().await;
            let registered = registered.map_err(|error| match error {
                CoreError::Validation(errors) | CoreError::Conflict(errors) => {
                    anyhow::anyhow!("invalid app: {}", errors.summary())
                }
                other => anyhow::Error::new(other).context("Failed to register the app"),
            })?;
            let app = &registered.app;
            let printed = serde_json::json!({"id": app.id, "slug": app.slug, "client_id": app.client_id, "pem": registered.private_key_pem.expose()});
            println!("{printed}");
            Ok(())
        }
        AppCommand::Install {
            app_id,
            account,
            store,
        } => {
            let store = store::open(&store).await?;
            let installation = admin_core(&store)
                .install_app(&Principal::Admin, app_id, account)
                .await;
            store.close().await;
            let installation = installation.map_err(|error| match error {
                CoreError::NotFound => anyhow::anyhow!("there is no app {app_id}"),
                other => anyhow::Error::new(other).context("Failed to install the app"),
            })?;
            let printed = serde_json::json!({"id": installation.id, "app_id": installation.app_id, "account": {"login": installation.account.as_str()}});
            println!("{printed}");
            Ok(())
        }
    }
}

/// The use cases for an admin command: the command line acts as the admin itself, with no
/// server to wake (a running server finds queued work at its next look at the queue).
fn admin_core(store: &Arc<dyn Store>) -> Core {
    Core::new(
        store.clone(),
        None,
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(Metrics::default()),
        Arc::new(HookRules::default()),
    )
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing open requests");
    shutdown.cancel();
}
