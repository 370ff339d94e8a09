//! Shell completions and manual pages, generated from the clap definition: a real bash runs the
//! completion function, zsh reads its script, groff renders every page without a warning.

use std::process::{Command, Output};

use crate::common::{code, stderr};

fn aegis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let o = aegis(args);
    assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("utf-8")
}

/// What bash's completion offers for `line` (the last word being completed).
fn bash_completes(script: &std::path::Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_aegis__dr aegis-dr \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let o = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "bash: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_flags_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("aegis-dr.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).expect("script");
    let offered = bash_completes(&script, "aegis-dr fa");
    assert!(
        offered.contains(&"failover".to_string()) && offered.contains(&"failback".to_string()),
        "{offered:?}"
    );
    assert!(!offered.contains(&"drill".to_string()), "{offered:?}");
    let offered = bash_completes(&script, "aegis-dr init --azure-r");
    assert_eq!(offered, vec!["--azure-resource-groups".to_string()]);
    let offered = bash_completes(&script, "aegis-dr completions ");
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.contains(&shell.to_string()), "{offered:?}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zsh = dir.path().join("_aegis-dr");
    let text = stdout_of(&["completions", "zsh"]);
    assert!(text.starts_with("#compdef aegis-dr"), "{}", &text[..80]);
    std::fs::write(&zsh, &text).expect("script");
    let o = Command::new("zsh")
        .arg("-n")
        .arg(&zsh)
        .output()
        .expect("zsh runs (scripts/test-tools.sh installs it)");
    assert!(o.status.success(), "zsh -n: {}", stderr(&o));
    let fish = stdout_of(&["completions", "fish"]);
    for cmd in ["failover", "failback", "drill", "init", "drift", "man"] {
        assert!(text.contains(&format!("'{cmd}:")), "zsh lacks {cmd}");
        assert!(fish.contains(&format!("-a \"{cmd}\"")), "fish lacks {cmd}");
    }
}

/// `page` rendered by groff (warnings on): its text, and groff's complaints.
fn render(page: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("page.1");
    std::fs::write(&file, page).expect("page");
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&file)
        .env("GROFF_NO_SGR", "1")
        .output()
        .expect("groff runs (scripts/test-tools.sh installs it)");
    assert!(o.status.success(), "groff: {}", stderr(&o));
    // Bold and underline are overstrikes in -Tutf8 output: drop them; justified lines have runs
    // of spaces: one will do.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&o.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else if !(c == ' ' && text.ends_with(' ')) {
            text.push(c);
        }
    }
    (text, stderr(&o))
}

#[test]
fn man_pages_render_without_a_warning() {
    let (main, warnings) = render(&stdout_of(&["man"]));
    assert_eq!(warnings, "", "groff warns on aegis-dr(1)");
    for want in ["SUBCOMMANDS", "aegis-dr-failover(1)", "--config"] {
        assert!(main.contains(want), "no `{want}` in:\n{main}");
    }
    let (page, warnings) = render(&stdout_of(&["man", "failover"]));
    assert_eq!(warnings, "", "groff warns on aegis-dr-failover(1)");
    for want in ["aegis-dr failover", "--accept-data-loss", "--config"] {
        assert!(page.contains(want), "no `{want}` in:\n{page}");
    }
    let o = aegis(&["man", "fail-over"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("man fail-over: no such command (one of: check,"),
        "{}",
        stderr(&o)
    );
}
