//! `levqor`: the command-line front end of levqor-core.
//!
//! `main` parses arguments, opens the system, dispatches to one command
//! module and maps the result to an exit code in one place.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;
use levqor_core::{Config, Levqor, LevqorBuilder, Result};

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let as_json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::from(output::exit::OK),
        Err(e) => {
            output::print_error(&e, as_json);
            ExitCode::from(output::exit_code(&e))
        }
    }
}

fn open(cli: &Cli, group_commit: bool) -> Result<Levqor> {
    let mut config = Config::from_env()?;
    if let Some(db) = &cli.db {
        config.db = db.clone();
        if std::env::var_os("LEVQOR_DATA_DIR").is_none() {
            config.data_dir = db
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| ".".into());
        }
    }
    LevqorBuilder::new(config).group_commit(group_commit).open()
}

fn run(cli: Cli) -> Result<()> {
    let as_json = cli.json;
    if let Command::Connector(c) = cli.command {
        // Needs configuration only, no database.
        return commands::connector::run(&Config::from_env()?, c, as_json);
    }
    let bench = matches!(cli.command, Command::BenchQueue(_));
    let l = open(&cli, bench)?;
    match cli.command {
        Command::Init => {
            let v = serde_json::json!({"db": l.config.db.display().to_string(),
                "data_dir": l.config.data_dir.display().to_string()});
            output::print(&v, as_json, |_| {
                format!("initialised {}", l.config.db.display())
            });
            Ok(())
        }
        Command::Apikey(c) => commands::apikey::run(&l, c, as_json),
        Command::Job(c) => commands::job::run(&l, c, as_json),
        Command::Dlq(c) => commands::ops::dlq(&l, c, as_json),
        Command::Queue(c) => commands::ops::queue(&l, c, as_json),
        Command::Worker(a) => commands::worker::run(&l, a),
        Command::BenchQueue(a) => commands::bench::run(&l, a),
        Command::User(c) => commands::identity::user(&l, c, as_json),
        Command::Keys(c) => commands::identity::keys(&l, c, as_json),
        Command::Audit(c) => commands::identity::audit(&l, c, as_json),
        Command::Flags(c) => commands::identity::flags(&l, c, as_json),
        Command::Connector(_) => unreachable!("handled before opening the database"),
        Command::Plan { description, email } => {
            commands::pipeline::plan(&l, &description, &email, as_json)
        }
        Command::Run {
            pipeline,
            input,
            is_async,
            email,
        } => commands::pipeline::run(&l, &pipeline, input.as_deref(), is_async, &email, as_json),
        Command::Bench { runs, steps } => commands::pipeline::bench(&l, runs, steps),
    }
}
