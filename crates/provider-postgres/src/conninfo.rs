//! libpq connection strings (`key=value ...` and `postgresql://` URLs) and password files, read the
//! way libpq reads them, for the keys this provider honours.

use std::collections::BTreeMap;

/// The keys a connection string may hold here (libpq's names).
pub const KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "passfile",
];

/// Parses a connection string into its keys; the error never quotes a value (it may be secret).
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let t = text.trim();
    let mut out = if let Some(rest) = t
        .strip_prefix("postgresql://")
        .or_else(|| t.strip_prefix("postgres://"))
    {
        url(rest)?
    } else {
        key_values(t)?
    };
    out.retain(|_, v| !v.is_empty());
    for k in out.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!(
                "unsupported key `{k}` (known: {})",
                KEYS.join(", ")
            ));
        }
    }
    Ok(out)
}

fn key_values(t: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = t.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("`{key}` has no `=value`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("a `\\` ends the string")?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("the quoted value of `{key}` is not closed")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or("a `\\` ends the string")?);
                } else {
                    value.push(c);
                }
            }
        }
        out.insert(key, value);
    }
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a `%` escape is cut short")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a `%` escape is not hex")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a `%` escape is not UTF-8".to_string())
}

fn url(rest: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, db) = main.split_once('/').unwrap_or((main, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(u) = userinfo {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        out.insert("user".into(), decode(user)?);
        out.insert("password".into(), decode(pass)?);
    }
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, p) = h
            .split_once(']')
            .ok_or("an IPv6 host's `[` is not closed")?;
        (h.to_string(), p.strip_prefix(':').unwrap_or(""))
    } else {
        let (h, p) = hostport.split_once(':').unwrap_or((hostport, ""));
        (decode(h)?, p)
    };
    out.insert("host".into(), host);
    out.insert("port".into(), port.to_string());
    out.insert("dbname".into(), decode(db)?);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or("a URL parameter has no `=value`")?;
        out.insert(decode(k)?, decode(v)?);
    }
    Ok(out)
}

/// The password a `.pgpass`-format file gives for this host, port, database and user (the first
/// matching line; `*` matches anything; `\:` and `\\` escape).
pub fn passfile_password(
    text: &str,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => cur.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        let want = [host, port.as_str(), dbname, user];
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_strings_parse_like_libpq() {
        let m = parse(r"host=db1 port = 5433 user='app user' password='it\'s' dbname=orders sslmode=verify-full").expect("parse");
        assert_eq!(m["host"], "db1");
        assert_eq!(m["port"], "5433");
        assert_eq!(m["user"], "app user");
        assert_eq!(m["password"], "it's");
        assert_eq!(m["sslmode"], "verify-full");
        assert!(parse("host=db1 bogus=1").unwrap_err().contains("`bogus`"));
        assert!(parse("host").is_err());
        let e = parse("password='s3cr3t").unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn urls_parse_like_libpq() {
        let m = parse(
            "postgresql://ad%40min:p%3Ass@[::1]:6543/orders?sslmode=require&application_name=x",
        )
        .expect("parse");
        assert_eq!(m["user"], "ad@min");
        assert_eq!(m["password"], "p:ss");
        assert_eq!(m["host"], "::1");
        assert_eq!(m["port"], "6543");
        assert_eq!(m["dbname"], "orders");
        assert_eq!(m["sslmode"], "require");
        let m = parse("postgres://db.example:5432").expect("parse");
        assert_eq!(m["host"], "db.example");
        assert!(!m.contains_key("dbname"));
    }

    #[test]
    fn password_files_match_wildcards_and_escapes() {
        let f = "# comment\nother:5432:*:app:no\ndb1:5432:*:app:pa\\:ss\n*:*:*:*:fallback\n";
        assert_eq!(
            passfile_password(f, "db1", 5432, "orders", "app").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            passfile_password(f, "db2", 1, "x", "y").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            passfile_password("db1:5432:*:app:x\n", "db1", 5433, "o", "app"),
            None
        );
    }
}
