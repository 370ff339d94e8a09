//! `aegis-dr state`: what is done to where runs keep their state.

use aegis_dr::{Error, Result};
use serde_json::json;

use crate::{
    args::OutputFormat,
    commands::{exit, outln, print_json},
    config::Config,
};

/// `aegis-dr state migrate --to`: every run and state file copied; exit 1 when a run was left.
pub fn migrate(cfg: &Config, to: &str) -> Result<u8> {
    let target = aegis_dr::open_state(to, &cfg.plan.state)?;
    if target.to_string() == cfg.state.to_string() {
        return Err(Error::config(format!(
            "--to: {to} is where the runs already are"
        )));
    }
    let m = aegis_dr::migrate::migrate(&cfg.state, &target)?;
    match cfg.output {
        OutputFormat::Json => print_json(&json!({
            "from": cfg.state.to_string(),
            "to": target.to_string(),
            "runs": m.runs,
            "entries": m.entries,
            "files": m.files,
            "left": m.left.iter().map(|(id, why)| json!({"run_id": id, "why": why})).collect::<Vec<_>>(),
        })),
        OutputFormat::Text | OutputFormat::Html => {
            outln!(
                "copied {} run(s) ({} journal entries) and {} state file(s) from {} to {}",
                m.runs,
                m.entries,
                m.files.len(),
                cfg.state,
                target
            );
            for (id, why) in &m.left {
                outln!("not copied: run {id}: {why}");
            }
            outln!(
                "nothing was deleted from {}; use the new state with --state {target} or [state] url",
                cfg.state
            );
        }
    }
    Ok(if m.left.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
