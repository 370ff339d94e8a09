//! DR-Syncer's command line, pasted as written: `aegis-dr k8s --mode=Stage|Cutover|Failback ...`
//! stands for `aegis-dr k8s stage|cutover|failback ...` (the mode names are DR-Syncer's, any case).

use std::ffi::OsString;

/// `args` with a `--mode` given to `k8s` (before any mode subcommand) turned into that subcommand;
/// other arguments unchanged. An unknown mode is a one-line error naming the three.
pub fn rewrite(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some(k8s) = args.iter().position(|a| a == "k8s") else {
        return Ok(args);
    };
    let modes = ["stage", "cutover", "failback"];
    let after = &args[k8s + 1..];
    // A mode subcommand given as such: nothing to do.
    if after
        .iter()
        .any(|a| modes.iter().any(|m| a.to_str() == Some(m)))
    {
        return Ok(args);
    }
    let mut mode = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < after.len() {
        let a = after[i].to_string_lossy().into_owned();
        if let Some(v) = a.strip_prefix("--mode=") {
            mode = Some(v.to_string());
        } else if a == "--mode" {
            i += 1;
            mode = Some(
                after
                    .get(i)
                    .map(|v| v.to_string_lossy().into_owned())
                    .ok_or("--mode: give Stage, Cutover or Failback")?,
            );
        } else {
            rest.push(after[i].clone());
        }
        i += 1;
    }
    let Some(mode) = mode else {
        return Ok(args);
    };
    let m = mode.to_ascii_lowercase();
    if !modes.contains(&m.as_str()) {
        return Err(format!(
            "--mode: `{mode}` is not Stage, Cutover or Failback"
        ));
    }
    let mut out: Vec<OsString> = args[..=k8s].to_vec();
    out.push(m.into());
    out.extend(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_mode_flag_becomes_the_subcommand() {
        assert_eq!(
            rewrite(v("aegis-dr --log-level=debug k8s --source-namespace=a --mode=Failback --reverse-migrate-pvc-data=true")).unwrap(),
            v("aegis-dr --log-level=debug k8s failback --source-namespace=a --reverse-migrate-pvc-data=true")
        );
        assert_eq!(
            rewrite(v("aegis-dr k8s --mode Stage --dry-run")).unwrap(),
            v("aegis-dr k8s stage --dry-run")
        );
        assert_eq!(
            rewrite(v("aegis-dr k8s cutover --yes")).unwrap(),
            v("aegis-dr k8s cutover --yes")
        );
        assert_eq!(
            rewrite(v("aegis-dr drill --yes")).unwrap(),
            v("aegis-dr drill --yes")
        );
        assert!(rewrite(v("aegis-dr k8s --mode=Sync"))
            .unwrap_err()
            .contains("`Sync` is not Stage, Cutover or Failback"));
    }
}
