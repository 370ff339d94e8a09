//! `aegis-dr state migrate`: copies every run (its journal, entry for entry, and its reports) and
//! the state files (the simulated world, fault counts) from one state to another: a folder into a
//! bucket, a bucket into a folder, or between buckets. Nothing is deleted from the source.

use crate::{
    error::{Error, Result},
    journal,
    runs::{self, RunRead},
    store::State,
};

/// What a migration copied and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Runs copied (or already there, identical).
    pub runs: usize,
    /// Journal entries copied.
    pub entries: usize,
    /// State files copied (`sim-world.json`, ...).
    pub files: Vec<String>,
    /// Runs not copied, each with why (an unreadable journal).
    pub left: Vec<(String, String)>,
}

/// The report files of a run.
const REPORTS: [&str; 3] = ["report.json", "report.md", "report.html"];

/// Copies `from` into `to`. Refused while a run in `from` is running (its journal is still
/// growing), and for a run that `to` holds with other entries (two histories of one run id).
/// A run `to` already holds with the same entries is left as it is, so a migration that stopped
/// halfway is finished by running it again.
pub fn migrate(from: &State, to: &State) -> Result<Migrated> {
    let all = runs::try_list(from)?;
    if let Some(r) = all.iter().find_map(|r| {
        r.run()
            .filter(|l| runs::is_live(from, &l.state.plan, &r.run_id))
    }) {
        return Err(Error::refused(format!(
            "run {} is running in {from}: migrate once it has ended",
            r.state.run_id
        )));
    }
    let mut out = Migrated::default();
    for r in &all {
        match &r.read {
            RunRead::Run(_) => {}
            RunRead::NoJournal => continue,
            RunRead::Corrupt(e) => {
                out.left.push((r.run_id.clone(), e.clone()));
                continue;
            }
        }
        let entries = journal::read_run(from, &r.run_id)?;
        let there = journal::read_run(to, &r.run_id).unwrap_or_default();
        if !there.is_empty() {
            let same = serde_json::to_value(&there).ok() == serde_json::to_value(&entries).ok();
            if !same {
                return Err(Error::refused(format!(
                    "run {} is already in {to} with other entries ({} there, {} here): not overwritten",
                    r.run_id,
                    there.len(),
                    entries.len()
                )));
            }
        } else {
            journal::write_run(to, &r.run_id, &entries)?;
            out.entries += entries.len();
        }
        for file in REPORTS {
            if let Some(bytes) = from.read_report(&r.run_id, file)? {
                to.write_report(&r.run_id, file, &bytes)?;
            }
        }
        out.runs += 1;
    }
    for name in state_files(from)? {
        if let Some(bytes) = from.read_file(&name)? {
            to.write_file(&name, &bytes)?;
            out.files.push(name);
        }
    }
    Ok(out)
}

/// The files at the top of a state (the simulated world, fault counts): `*.json` there.
fn state_files(state: &State) -> Result<Vec<String>> {
    let mut names: Vec<String> = match state {
        State::Folder(dir) => match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(dir.display(), e)),
        },
        State::Objects(o, _) => o
            .list("")?
            .into_iter()
            .filter(|k| !k.contains('/'))
            .collect(),
    };
    names.retain(|n| n.ends_with(".json") && !n.starts_with('.'));
    names.sort();
    Ok(names)
}
