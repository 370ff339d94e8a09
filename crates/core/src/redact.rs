//! URLs fit to show: secrets (tokens in paths, user info, query values) taken out. A module of its
//! own, beneath everything that prints a URL.

/// A URL with its secrets taken out: the scheme and host stay, user info, path, query and fragment
/// (where webhook tokens live) become `…`. For every place a sink URL is written or printed.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "<redacted>".into(),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let hidden = authority.contains('@') || !rest[end..].trim_start_matches('/').is_empty();
    format!("{scheme}://{host}{}", if hidden { "/…" } else { "" })
}

/// A URL fit to show: its path stays, but user info becomes `…@` and every query value `…`
/// (`https://…@host/api?api_key=…`). For hook URLs in titles, journals, reports and errors.
pub fn redact_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => format!("…@{h}"),
        None => authority.to_string(),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let query = query.map(|q| {
        let (q, frag) = q.split_once('#').map_or((q, None), |(q, f)| (q, Some(f)));
        let masked: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{k}=…"),
                None => kv.to_string(),
            })
            .collect();
        format!("?{}{}", masked.join("&"), frag.map(|_| "#…").unwrap_or(""))
    });
    format!("{scheme}://{host}{path}{}", query.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_keep_their_host_and_lose_their_secrets() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/XyZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("https://user:pw@example.com:8443?token=1"),
            "https://example.com:8443/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(redact_url("http://127.0.0.1:9/"), "http://127.0.0.1:9");
        assert_eq!(redact_url("not a url with secret"), "<redacted>");
    }

    #[test]
    fn hook_urls_keep_their_path_and_lose_credentials_and_query_values() {
        use super::redact_credentials as r;
        assert_eq!(
            r("https://ops:s3cret@deploy.example.com/api/freeze?api_key=K1&env=prod"),
            "https://…@deploy.example.com/api/freeze?api_key=…&env=…"
        );
        assert_eq!(
            r("http://127.0.0.1:8080/ready"),
            "http://127.0.0.1:8080/ready"
        );
        assert_eq!(r("http://h/p?flag#frag"), "http://h/p?flag#…");
    }
}
