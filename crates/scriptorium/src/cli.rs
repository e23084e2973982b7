//! The command line: `serve`, `migrate`, `users`, `keys`, `documents`,
//! `openapi`, `probe`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

use crate::configuration::Config;
use crate::startup::Application;
use crate::targets::{Service, Targets};

#[derive(Debug, Parser)]
#[command(
    name = "scriptorium",
    version,
    about = "Self-hosted document AI: auth, OCR and LLM services"
)]
pub struct Cli {
    /// Configuration file (default: ./scriptorium.toml when present).
    #[arg(long, global = true, env = "SCRIPTORIUM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run services: `all` (default) in one process, or a comma list.
    Serve {
        #[arg(long, default_value = "all")]
        target: Targets,
        /// Override `server.bind`.
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Apply the database migrations of the targets' services and exit.
    Migrate {
        #[arg(long, default_value = "all")]
        target: Targets,
    },
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage token-signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Maintain the document library.
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
    /// Print the OpenAPI document of the services in `--target`.
    Openapi {
        #[arg(long, default_value = "all")]
        target: Targets,
    },
    /// GET a health endpoint of the server on this machine (`server.bind`'s
    /// port) and exit 0 when it answers 2xx: a container HEALTHCHECK that
    /// needs no curl in the image.
    Probe {
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account; the password is read from standard input.
    Create { username: String },
    /// List accounts.
    List,
    /// Disable an account (its tokens stop refreshing, its API keys stop working).
    Disable { username: String },
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Rebuild the search index from every stored page (after an upgrade
    /// that changed how text is normalized); the library stays usable.
    Reindex,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a signing key; the old ones stay published until their tokens expire.
    Rotate {
        /// Seconds before the new key signs (publish first; Istio refreshes
        /// keys every 20 minutes). Default: `auth.key_activation_delay_secs`.
        #[arg(long)]
        activate_in: Option<i64>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config =
        Config::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    kit::telemetry::init(config.server.log_format);
    match cli.command {
        Command::Serve { target, bind } => {
            if let Some(bind) = bind {
                config.server.bind = bind;
            }
            tracing::info!(targets = %target, "starting");
            let app = Application::build(config, &target).await?;
            app.run_until(kit::server::shutdown_signal()).await?;
            kit::telemetry::flush();
        }
        Command::Migrate { target } => {
            if target.contains(Service::Auth) {
                auth::Auth::open(config.auth, 1).await?;
                println!("auth: migrations applied");
            }
            if target.contains(Service::Documents) {
                documents::store::migrate(&config.documents).await?;
                println!("documents: migrations applied");
            }
        }
        Command::Users { command } => {
            let auth = auth::Auth::open(config.auth, 1).await?;
            match command {
                UsersCommand::Create { username } => {
                    let mut password = String::new();
                    std::io::stdin()
                        .read_to_string(&mut password)
                        .context("reading the password from standard input")?;
                    let password = password.trim_end_matches(['\n', '\r']);
                    match auth.create_user(&username, password).await {
                        Ok(user) => println!("created {} ({})", user.username, user.id),
                        Err(auth::AuthError::Validation(errors)) => {
                            let lines: Vec<_> = errors
                                .iter()
                                .map(|e| format!("{}: {}", e.field, e.message))
                                .collect();
                            bail!("{}", lines.join("; "));
                        }
                        Err(e) => bail!("{e}"),
                    }
                }
                UsersCommand::List => {
                    for u in auth.store().list_users().await? {
                        let state = if u.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        };
                        println!("{}\t{}\t{}", u.id, u.username, state);
                    }
                }
                UsersCommand::Disable { username } => {
                    if !auth.disable_user(&username).await? {
                        bail!("no active user named {username}");
                    }
                    println!("disabled {username}");
                }
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate { activate_in },
        } => {
            let auth = auth::Auth::open(config.auth, 1).await?;
            let kid = auth.rotate_keys(activate_in).await?;
            println!("{kid}");
        }
        Command::Documents {
            command: DocumentsCommand::Reindex,
        } => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "reindexing {bar:40} {pos}/{len} pages ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let done = documents::store::reindex(&config.documents, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            println!("documents: {done} pages reindexed");
        }
        Command::Probe { path } => {
            let url = format!("http://127.0.0.1:{}{path}", config.server.bind.port());
            let response = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            if !response.status().is_success() {
                bail!("GET {url}: {}", response.status());
            }
        }
        Command::Openapi { target } => {
            use std::io::Write;
            let doc = crate::startup::openapi_document(&target);
            // A closed pipe (`| head`) ends the output quietly.
            let _ = writeln!(std::io::stdout(), "{}", doc.to_pretty_json()?);
        }
    }
    Ok(())
}
