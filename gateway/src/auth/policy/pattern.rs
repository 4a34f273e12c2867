//! IAM wildcards: `*` matches any run of characters (also none), `?` exactly one.

/// Whether `text` matches `pattern`, iteratively with one backtrack point, so that a long
/// key against many `*` costs O(len × stars) at worst, never exponential time.
#[must_use]
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
        // Pathological input stays fast.
        let long = "a".repeat(2000);
        assert!(!matches(&format!("{}b", "*a".repeat(20)), &long));
    }
}
