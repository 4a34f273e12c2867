//! The `BUCKET[:/PREFIX]` argument.

use crate::options::OptionsError;

/// What to mount: a bucket, or a prefix inside it (always ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub bucket: String,
    pub prefix: String,
}

impl Source {
    pub fn parse(text: &str) -> Result<Self, OptionsError> {
        let (bucket, prefix) = match text.split_once(':') {
            Some((bucket, path)) => (bucket, path),
            None => (text, ""),
        };
        if bucket.is_empty() || bucket.contains('/') {
            return Err(OptionsError::Source(text.to_owned()));
        }
        let trimmed = prefix.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_and_prefix_forms() {
        assert_eq!(
            Source::parse("b").unwrap(),
            Source {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Source::parse("b:/data/vm1").unwrap(),
            Source {
                bucket: "b".into(),
                prefix: "data/vm1/".into()
            }
        );
        assert_eq!(Source::parse("b:/").unwrap().prefix, "");
        assert!(Source::parse(":/x").is_err());
        assert!(Source::parse("a/b").is_err());
    }
}
