//! Names that say where a resource is: a region in a DNS name (whole, `x.us-east-1.elb...`, or
//! short, `lb-use1`), its twin at the other site, and a name stripped of its site words, so a
//! resource can be paired with its counterpart. Shared by every provider's discovery.

/// The next page's token: none when the service gave none (or an empty one); an error naming
/// `what` when it gave the one just used (the list would never end, and a list read in part would
/// make what is missing look gone).
pub fn next_token(
    given: Option<&str>,
    used: &Option<String>,
    what: &str,
) -> crate::Result<Option<String>> {
    match given.filter(|t| !t.is_empty()) {
        Some(t) if used.as_deref() == Some(t) => Err(crate::Error::new(
            crate::ErrorKind::Provider,
            format!("listing {what}: the service gave the page token just used again; the list was not read to its end"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

/// The short form of a region (`us-east-1` → `use1`, `ap-southeast-2` → `aps2`).
fn short(region: &str) -> Option<String> {
    let parts: Vec<&str> = region.split('-').collect();
    if parts.len() < 3 {
        return None;
    }
    let mut s = parts[0].to_string();
    for p in &parts[1..parts.len() - 1] {
        s.push(p.chars().next()?);
    }
    s.push_str(parts[parts.len() - 1]);
    Some(s)
}

fn pieces(name: &str) -> Vec<&str> {
    name.split(['.', '-', '_'])
        .filter(|p| !p.is_empty())
        .collect()
}

/// True when `name` carries `region`, whole (`x.us-east-1.elb.amazonaws.com`) or short (`lb-use1`).
pub fn names_region(name: &str, region: &str) -> bool {
    let region = &region.to_ascii_lowercase();
    let lower = name.to_ascii_lowercase();
    if lower
        .match_indices(region)
        .any(|(at, _)| bounded(&lower, at, region.len()))
    {
        return true;
    }
    short(region).is_some_and(|s| pieces(&lower).contains(&s.as_str()))
}

fn bounded(s: &str, at: usize, len: usize) -> bool {
    let sep = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
    sep(s[..at].chars().next_back()) && sep(s[at + len..].chars().next())
}

/// `name` with `from`'s region (whole or short) replaced by `to`'s; none when it names neither.
pub fn twin_name(name: &str, from: &str, to: &str) -> Option<String> {
    let from = &from.to_ascii_lowercase();
    let lower = name.to_ascii_lowercase();
    if let Some((at, _)) = lower
        .match_indices(from.as_str())
        .find(|(at, _)| bounded(&lower, *at, from.len()))
    {
        let to = to.to_ascii_lowercase();
        return Some(format!("{}{to}{}", &name[..at], &name[at + from.len()..]));
    }
    let (sf, st) = (short(from)?, short(to)?);
    let mut out = String::new();
    let mut piece = String::new();
    let mut changed = false;
    for c in name.chars().chain(std::iter::once('.')) {
        if c == '.' || c == '-' || c == '_' {
            if piece.eq_ignore_ascii_case(&sf) {
                out.push_str(&st);
                changed = true;
            } else {
                out.push_str(&piece);
            }
            piece.clear();
            out.push(c);
        } else {
            piece.push(c);
        }
    }
    out.pop();
    changed.then_some(out)
}

/// The words of a pool's name that say nothing about which site it is at (region, `dr`, `prod`,
/// ...), for pairing a pool with its twin at the other site.
pub fn twin_key(name: &str, regions: &[&str]) -> String {
    const SITE_WORDS: [&str; 8] = [
        "dr",
        "prod",
        "production",
        "primary",
        "standby",
        "secondary",
        "main",
        "failover",
    ];
    let shorts: Vec<String> = regions.iter().filter_map(|r| short(r)).collect();
    let mut rest = name.to_ascii_lowercase();
    for r in regions {
        rest = rest.replace(r, "");
    }
    pieces(&rest)
        .into_iter()
        .filter(|p| !SITE_WORDS.contains(p) && !shorts.iter().any(|s| s == p))
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_read_from_names_whole_or_short() {
        assert!(names_region("lb-use1.example.com", "us-east-1"));
        assert!(names_region("x.us-west-2.elb.amazonaws.com.", "us-west-2"));
        assert!(!names_region("x.us-west-2.elb.amazonaws.com", "us-west-1"));
        assert!(!names_region("house1.example.com", "us-east-1"));
        assert_eq!(
            twin_name("lb-use1.example.com", "us-east-1", "us-west-2").as_deref(),
            Some("lb-usw2.example.com")
        );
        assert_eq!(
            twin_name("a.us-east-1.elb.amazonaws.com", "us-east-1", "us-west-2").as_deref(),
            Some("a.us-west-2.elb.amazonaws.com")
        );
        assert_eq!(twin_name("lb.example.com", "us-east-1", "us-west-2"), None);
        let r = ["us-east-1", "us-west-2"];
        assert_eq!(twin_key("workers-ab1", &r), twin_key("dr-workers-ab1", &r));
        assert_eq!(twin_key("web-use1", &r), twin_key("web-usw2", &r));
        assert_ne!(twin_key("web-use1", &r), twin_key("api-usw2", &r));
    }
}
