//! What `aegis-dr` generates from its own definitions, with no plan: shell completions, manual
//! pages, the plan file's JSON Schema and the book's reference pages.

use std::{io::Write, process::ExitCode};

use crate::{args, commands, reference};

/// The text a generating command prints, or `None` when `command` is not one of them.
pub fn generate(command: &args::Command) -> Option<aegis_dr::Result<Vec<u8>>> {
    Some(match command {
        args::Command::Completions { shell } => Ok(completions(*shell)),
        args::Command::Man { command } => man_page(command.as_deref()).and_then(|page| {
            let mut out = Vec::new();
            clap_mangen::Man::new(page)
                .render(&mut out)
                .map_err(|e| aegis_dr::Error::io("manual page", e))?;
            Ok(out)
        }),
        args::Command::Schema => Ok(format!("{:#}\n", aegis_dr::plan::json_schema()).into_bytes()),
        args::Command::Reference { page } => Ok(match page {
            args::ReferencePage::Cli => reference::cli(),
            args::ReferencePage::Plan => reference::plan(&aegis_dr::plan::json_schema()),
        }
        .into_bytes()),
        _ => return None,
    })
}

/// Prints generated text; a closed stdout is an error naming it, never a panic.
pub fn print(text: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: stdout: {e}");
            ExitCode::from(commands::exit::FAILED)
        }
    }
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
fn completions(shell: args::CompletionShell) -> Vec<u8> {
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
    script
}
