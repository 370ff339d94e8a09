//! The `aegis-dr` command: raw arguments (clap) become a validated config, handed to the library.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod config;
mod drsyncer;
mod estate;
mod init;
mod logging;
mod progress;
mod reference;
mod state;
mod tooling;
mod watch;

use std::{io::Write, process::ExitCode};

fn main() -> ExitCode {
    let argv = match drsyncer::rewrite(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(commands::exit::USAGE);
        }
    };
    let cli = args::parse(argv);
    let json = cli.output == args::OutputFormat::Json;
    aegis_dr::install_crypto_provider();
    match logging::filter(cli.log_level, std::env::var("RUST_LOG").ok().as_deref()) {
        Ok(Some(filter)) => logging::init(filter, cli.log_format),
        Ok(None) => {}
        Err(e) => return fail(&e, json),
    }
    if cli.output == args::OutputFormat::Html
        && matches!(
            cli.command,
            args::Command::Providers
                | args::Command::K8s { .. }
                | args::Command::Completions { .. }
                | args::Command::Man { .. }
                | args::Command::Schema
                | args::Command::Reference { .. }
        )
    {
        let e = aegis_dr::Error::config(
            "--output html: only `plan` (and `--dry-run`) and `report` draw HTML",
        );
        return fail(&e, json);
    }
    if let Some(generated) = tooling::generate(&cli.command) {
        return match generated {
            Ok(text) => tooling::print(&text),
            Err(e) => fail(&e, json),
        };
    }
    if let args::Command::Init(a) = &cli.command {
        let cfg = match init::InitConfig::from_cli(&cli, a) {
            Ok(c) => c,
            Err(e) => return fail(&e, json),
        };
        return run_async(init::init(cfg), json);
    }
    if matches!(cli.command, args::Command::Providers) {
        return run_async(async { commands::providers(cli.output) }, json);
    }
    match config::Config::k8s_from_cli(&cli) {
        #[cfg(feature = "kubernetes")]
        Ok(Some(k)) => return run_async(commands::k8s(k, cli.output), json),
        #[cfg(not(feature = "kubernetes"))]
        Ok(Some(_)) => {
            return fail(
                &aegis_dr::Error::config(
                    "k8s: this build of aegis-dr has no Kubernetes provider (rebuild with the `kubernetes` cargo feature)",
                ),
                json,
            )
        }
        Ok(None) => {}
        Err(e) => return fail(&e, json),
    }
    let cfg = match config::Config::from_cli(&cli) {
        Ok(c) => c,
        Err(e) => return fail(&e, json),
    };
    run_async(commands::run(cfg), json)
}

/// Runs a command on a two-worker runtime and turns its outcome into the exit code.
fn run_async(fut: impl std::future::Future<Output = aegis_dr::Result<u8>>, json: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&aegis_dr::Error::io("tokio runtime", e), json),
    };
    match rt.block_on(fut) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e, json),
    }
}

/// Prints the error with its whole chain (and a JSON document when asked) and picks the exit code.
fn fail(e: &aegis_dr::Error, json: bool) -> ExitCode {
    let mut msg = format!("error: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!("\n  caused by: {s}"));
        src = s.source();
    }
    eprintln!("{msg}");
    let code = commands::code_for(e);
    if json {
        let status = if code == commands::exit::REFUSED {
            "refused"
        } else {
            "error"
        };
        // A closed stdout must not turn an error into a panic.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::json!({ "run_id": null, "status": status, "error": e.summary() })
        );
    }
    ExitCode::from(code)
}
