//! Small globs for file excludes and policy name patterns.

/// `*` (within a path segment), `**` (across segments) and `?`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    // memo[i][j]: pattern from i matches text from j (None: not computed).
    // Each pair is decided once, so the cost is |pattern| × |text| at most.
    let mut memo: Vec<Vec<Option<bool>>> = vec![vec![None; t.len() + 1]; p.len() + 1];
    go(p, t, 0, 0, &mut memo)
}

fn go(p: &[u8], t: &[u8], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
    if let Some(known) = memo[i][j] {
        return known;
    }
    let result = match &p[i..] {
        [] => j == t.len(),
        [b'*', b'*', ..] => {
            let mut next = i + 2;
            if p.get(next) == Some(&b'/') {
                next += 1;
            }
            (j..=t.len()).any(|k| go(p, t, next, k, memo))
        }
        [b'*', ..] => (j..=t.len())
            .take_while(|&k| k == j || t[k - 1] != b'/')
            .any(|k| go(p, t, i + 1, k, memo)),
        [b'?', ..] => t.get(j).is_some_and(|&c| c != b'/') && go(p, t, i + 1, j + 1, memo),
        [c, ..] => t.get(j) == Some(c) && go(p, t, i + 1, j + 1, memo),
    };
    memo[i][j] = Some(result);
    result
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
        // Many stars against a long name: decided in |pattern| × |text| steps.
        let long = "a".repeat(253);
        assert!(!matches("*a*a*a*a*a*a*a*a*a*a*b", &long));
    }
}
