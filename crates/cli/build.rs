//! Names the commit and the providers of this build in `aegis-dr --version`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    // Built again when HEAD moves (a commit, a checkout): the version names the commit built.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/packed-refs");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    let mut providers = vec!["sim"];
    for (feature, name) in [
        ("AWS", "aws"),
        ("AZURE", "azure"),
        ("GCP", "gcp"),
        ("KUBERNETES", "kubernetes"),
        ("POSTGRES", "postgres"),
    ] {
        if std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some() {
            providers.push(name);
        }
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!(
        "cargo:rustc-env=AEGIS_DR_VERSION={version} (commit {}; providers: {})",
        commit.as_deref().unwrap_or("unknown"),
        providers.join(", ")
    );
}
