//! Every example plan is planned as it is written, and `examples/README.md` describes each one
//! (and links nothing that is not there).

use std::{path::Path, process::Command};

use crate::common::{code, json, stderr};

#[test]
fn every_example_is_planned_and_described() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("examples/README.md");
    let mut plans: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    plans.sort();
    assert!(plans.len() >= 7, "{plans:?}");
    for name in &plans {
        assert!(
            readme.contains(&format!("[`{name}`]({name})")),
            "examples/README.md does not describe {name}"
        );
        let state = tempfile::tempdir().expect("tempdir");
        let o = Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
            .arg("--config")
            .arg(dir.join(name))
            .arg("--state-dir")
            .arg(state.path())
            .args(["plan", "--output", "json"])
            .output()
            .expect("binary runs");
        assert_eq!(code(&o), 0, "plan {name}: {}", stderr(&o));
        let plan = json(&o);
        assert!(
            plan["steps"].as_array().is_some_and(|s| !s.is_empty()),
            "{name}: {plan:#}"
        );
    }
    // Every link in the README names a file that is there.
    for part in readme.split("](").skip(1) {
        let target = part.split(')').next().unwrap_or_default();
        assert!(
            dir.join(target).exists(),
            "examples/README.md links {target}, which is not in examples/"
        );
    }
}
