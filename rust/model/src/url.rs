//! Locations as they may be shown or stored: a URL without its password.
//! Repository and registry URLs may carry credentials
//! (`https://user:secret@host/…`, `postgresql://…?password=…`); the
//! process that fetches keeps them, but messages, logs, compose records
//! and published metadata get this form.

use std::borrow::Cow;

/// `location` without passwords: the password of the user information
/// (`scheme://user:secret@host` → `scheme://user@host`, so the record
/// still says who fetched) and any `password=` query parameter are
/// dropped. Anything that is not a `scheme://` URL (a path) is returned
/// as it is.
pub fn redact_credentials(location: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = location.split_once("://") else {
        return Cow::Borrowed(location);
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let userinfo_has_password = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let query_has_password = query.is_some_and(|q| q.split('&').any(is_password_param));
    if !userinfo_has_password && !query_has_password {
        return Cow::Borrowed(location);
    }
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{hosts}")
        }
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query.split('&').filter(|p| !is_password_param(p)).collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    Cow::Owned(out)
}

fn is_password_param(p: &str) -> bool {
    p.get(..9)
        .is_some_and(|k| k.eq_ignore_ascii_case("password="))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn passwords_are_dropped() {
        for (url, shown) in [
            (
                "https://user:s3cret@example.org/f40/x86_64",
                "https://user@example.org/f40/x86_64",
            ),
            ("http://u:p%40ss@h:8080/r/", "http://u@h:8080/r/"),
            ("https://u:pw@h", "https://u@h"),
            (
                "https://h/r?password=x&arch=x86_64",
                "https://h/r?arch=x86_64",
            ),
            (
                "postgresql://koji:s3cret@db/koji?Password=x",
                "postgresql://koji@db/koji",
            ),
        ] {
            assert_eq!(redact_credentials(url), shown, "{url}");
        }
    }

    #[test]
    fn everything_else_is_left_alone() {
        for loc in [
            "/srv/repos/f40/x86_64",
            "file:///srv/repos/f40",
            "https://user@example.org/f40",
            "https://example.org/a@b/repo",
            "https://example.org/r?arch=x86_64",
        ] {
            assert!(matches!(redact_credentials(loc), Cow::Borrowed(_)), "{loc}");
            assert_eq!(redact_credentials(loc), loc);
        }
    }
}
