//! IAM wildcards: `*` matches any run of characters (also none), `?` exactly one.

/// Whether `text` matches `pattern`, iteratively with one backtrack point, so that a long
/// key against many `*` costs O(len × stars) at worst, never exponential time. It runs on
/// every policy statement of every request, so it matches bytes when it can (without `?`,
/// byte and character matching agree on UTF-8) and collects characters only for `?`.
#[must_use]
pub fn matches(pattern: &str, text: &str) -> bool {
    if pattern.contains('?') {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        glob(&p, &t, '*', Some('?'))
    } else {
        glob(pattern.as_bytes(), text.as_bytes(), b'*', None)
    }
}

fn glob<T: PartialEq + Copy>(p: &[T], t: &[T], star: T, one: Option<T>) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (Some(p[pi]) == one || p[pi] == t[ti]) && p[pi] != star {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = backtrack {
            pi = sp + 1;
            ti = st + 1;
            backtrack = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at/all"));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y"));
        assert!(!matches("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(matches(
            "arn:aws:s3:::b/public/*.jpg",
            "arn:aws:s3:::b/public/a/c.jpg"
        ));
        assert!(!matches(
            "arn:aws:s3:::b/public/*.jpg",
            "arn:aws:s3:::b/public/a/c.png"
        ));
        assert!(matches("s3:Get*", "s3:GetObject"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!matches("*a*b*c*", "xxaxxcxxbxx"));
        // A `*` in the text is still matched by the pattern's `*` as a wildcard.
        assert!(matches("*a", "*ba"));
        // `?` is one character, not one byte.
        assert!(matches("arn:aws:s3:::b/caf?", "arn:aws:s3:::b/café"));
        assert!(!matches("arn:aws:s3:::b/caf??", "arn:aws:s3:::b/café"));
        assert!(matches("b/*é", "b/xyzé"));
        // Pathological input stays fast.
        let long = "a".repeat(2000);
        assert!(!matches(&format!("{}b", "*a".repeat(20)), &long));
    }
}
