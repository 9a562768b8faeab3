//! Small globs for file excludes and policy name patterns.

/// `*` (within a path segment), `**` (across segments) and `?`.
pub fn matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => {
                let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            [b'*', rest @ ..] => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            [b'?', rest @ ..] => t.first().is_some_and(|&c| c != b'/') && go(rest, &t[1..]),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*.yaml", "a.yaml"));
        assert!(!matches("*.yaml", "d/a.yaml"));
        assert!(matches("**/a.yaml", "d/e/a.yaml"));
        assert!(matches("**/a.yaml", "a.yaml"));
        assert!(matches("tests/**", "tests/x/y.yaml"));
        assert!(matches("team-a-*", "team-a-creds"));
        assert!(!matches("team-a-*", "team-b-creds"));
        assert!(matches("*", ""));
    }
}
