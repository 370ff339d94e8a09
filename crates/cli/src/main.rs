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
mod state;
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
        )
    {
        let e = aegis_dr::Error::config(
            "--output html: only `plan` (and `--dry-run`) and `report` draw HTML",
        );
        return fail(&e, json);
    }
    match cli.command {
        args::Command::Completions { shell } => {
            return print_generated(|out| completions(shell, out))
        }
        args::Command::Man { command } => {
            let page = match man_page(command.as_deref()) {
                Ok(p) => p,
                Err(e) => return fail(&e, json),
            };
            return print_generated(|out| clap_mangen::Man::new(page).render(out));
        }
        _ => {}
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

/// The command line a manual page describes: aegis-dr's own, or one command's (named
/// `aegis-dr-<command>`, as the main page's list refers to it).
fn man_page(command: Option<&str>) -> aegis_dr::Result<clap::Command> {
    let mut all = args::command();
    let Some(name) = command else {
        return Ok(all);
    };
    // Built, the global flags (--config, --output, ...) are the command's too.
    all.build();
    match all.find_subcommand(name) {
        Some(sub) => Ok(sub
            .clone()
            .name(format!("aegis-dr-{name}"))
            .version(all.get_version().unwrap_or_default().to_string())),
        None => Err(aegis_dr::Error::config(format!(
            "man {name}: no such command (one of: {})",
            all.get_subcommands()
                .map(|c| c.get_name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Shell completions of the command line, as `clap_complete` writes them.
fn completions(shell: args::CompletionShell, out: &mut Vec<u8>) -> std::io::Result<()> {
    use clap_complete::Shell;
    let shell = match shell {
        args::CompletionShell::Bash => Shell::Bash,
        args::CompletionShell::Zsh => Shell::Zsh,
        args::CompletionShell::Fish => Shell::Fish,
    };
    // Into memory: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut args::command(), "aegis-dr", &mut script);
    if shell == Shell::Bash {
        // clap_complete 4.6 names a subcommand's state `aegis__dr__subcmd__init` where it walks the
        // words but `aegis__subcmd__dr__subcmd__init` in the case that offers its flags (the '-' of
        // the binary's name is escaped twice), so no subcommand's flags would ever be offered.
        let text = String::from_utf8_lossy(&script).replace("aegis__subcmd__dr__", "aegis__dr__");
        script = text.into_bytes();
    }
    out.extend_from_slice(&script);
    Ok(())
}

/// Prints what `write` generates; a closed stdout is an error naming it, never a panic.
fn print_generated(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> ExitCode {
    let mut text = Vec::new();
    let mut out = std::io::stdout().lock();
    match write(&mut text)
        .and_then(|()| out.write_all(&text))
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: stdout: {e}");
            ExitCode::from(commands::exit::FAILED)
        }
    }
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
