//! The `ecs-exporter` binary: parse flags, set up logging, run. Nothing else.

use anyhow::Context;
use clap::Parser;
use ecs_exporter::config::{Cli, Command};
use ecs_exporter::{app, logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line, without its own "error: " prefix.
            let msg = e.to_string();
            let line = msg.lines().next().unwrap_or("invalid arguments");
            eprintln!("ecs-exporter: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    logging::init(cli.log_level, cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ecs-exporter: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    match cli.command {
        Some(Command::Simulate(args)) => rt.block_on(app::run_simulator(args))?,
        Some(Command::Healthcheck(args)) => {
            if let Err(e) = rt.block_on(app::healthcheck(args)) {
                eprintln!("ecs-exporter: unhealthy: {e}");
                std::process::exit(1);
            }
        }
        Some(Command::Host(args)) => {
            let cfg = args.into_config()?;
            rt.block_on(app::run_exporter(cfg))?;
        }
        None => {
            let cfg = cli.into_config()?;
            rt.block_on(app::run_exporter(cfg))?;
        }
    }
    Ok(())
}
