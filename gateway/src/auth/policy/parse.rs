//! Parsing and validating a policy document as S3's PutBucketPolicy does.

use serde_json::Value;

use super::condition::{self, Condition, ConditionOp};
use super::{Effect, Matcher, Policy, Principals, Statement};

/// Why a document was refused (S3's `MalformedPolicy`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// S3 limits a bucket policy to 20 KiB.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// A string or a list of strings.
fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("{what} must hold strings")))
            })
            .collect(),
        _ => Err(bad(format!(
            "{what} must be a string or a non-empty list of strings"
        ))),
    }
}

fn principal_name(text: &str) -> Result<String, PolicyError> {
    if text == "*" {
        return Ok("*".to_owned());
    }
    let name = match text.strip_prefix("arn:aws:iam::") {
        Some(rest) => rest.strip_suffix(":root").ok_or_else(|| {
            bad(format!(
                "Invalid principal in policy: {text} (use TENANT or arn:aws:iam::TENANT:root)"
            ))
        })?,
        None => text,
    };
    if name.is_empty() || name.contains(['/', ':', '*']) {
        return Err(bad(format!("Invalid principal in policy: {text}")));
    }
    Ok(name.to_owned())
}

fn principals(value: &Value) -> Result<Principals, PolicyError> {
    let names = match value {
        Value::String(s) if s == "*" => return Ok(Principals::Everyone),
        Value::Object(map) => {
            let mut names = Vec::new();
            for (kind, v) in map {
                if kind != "AWS" {
                    return Err(bad(format!(
                        "Invalid principal type {kind:?}: only AWS principals exist here"
                    )));
                }
                for name in strings(v, "Principal")? {
                    names.push(principal_name(&name)?);
                }
            }
            names
        }
        _ => return Err(bad("Principal must be \"*\" or {\"AWS\": ...}")),
    };
    if names.is_empty() {
        return Err(bad("Principal names no one"));
    }
    if names.iter().any(|n| n == "*") {
        return Ok(Principals::Everyone);
    }
    Ok(Principals::Named(names))
}

fn matcher(
    stmt: &serde_json::Map<String, Value>,
    name: &str,
    check: &dyn Fn(&str) -> Result<(), PolicyError>,
) -> Result<Matcher, PolicyError> {
    let not = format!("Not{name}");
    let m = match (stmt.get(name), stmt.get(&not)) {
        (Some(v), None) => Matcher::Any(strings(v, name)?),
        (None, Some(v)) => Matcher::AnyBut(strings(v, &not)?),
        (Some(_), Some(_)) => return Err(bad(format!("A statement has both {name} and {not}"))),
        (None, None) => return Err(bad(format!("A statement needs {name} or {not}"))),
    };
    let (Matcher::Any(items) | Matcher::AnyBut(items)) = &m;
    for item in items {
        check(item)?;
    }
    Ok(m)
}

fn conditions(value: Option<&Value>) -> Result<Vec<Condition>, PolicyError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let ops = value
        .as_object()
        .ok_or_else(|| bad("Condition must be an object"))?;
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let op = ConditionOp::parse(op_name)
            .ok_or_else(|| bad(format!("Unsupported condition operator {op_name:?}")))?;
        let keys = keys
            .as_object()
            .ok_or_else(|| bad(format!("Condition {op_name} must map keys to values")))?;
        for (key, values) in keys {
            let lower = key.to_ascii_lowercase();
            if !condition::KEYS.contains(&lower.as_str()) {
                return Err(bad(format!("Unsupported condition key {key:?}")));
            }
            let values = match values {
                Value::Bool(b) => vec![b.to_string()],
                Value::Number(n) => vec![n.to_string()],
                other => strings(other, key)?,
            };
            if matches!(op, ConditionOp::IpAddress | ConditionOp::NotIpAddress) {
                if lower != "aws:sourceip" {
                    return Err(bad(format!("{op_name} applies to aws:SourceIp, not {key}")));
                }
                if let Some(v) = values.iter().find(|v| condition::parse_cidr(v).is_none()) {
                    return Err(bad(format!("Invalid IP address or CIDR block {v:?}")));
                }
            }
            out.push(Condition {
                op,
                key: lower,
                values,
            });
        }
    }
    Ok(out)
}

impl Policy {
    /// Parses a document for `bucket`; its resources must all lie in that bucket.
    pub fn parse(text: &str, bucket: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(bad("Policies must be 20 KiB or smaller"));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("This policy is not valid JSON: {e}")))?;
        let doc = doc
            .as_object()
            .ok_or_else(|| bad("A policy is a JSON object"))?;
        match doc.get("Version").and_then(Value::as_str) {
            Some("2012-10-17" | "2008-10-17") | None => {}
            Some(other) => return Err(bad(format!("Unsupported policy version {other:?}"))),
        }
        let raw = match doc.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items.clone(),
            Some(item @ Value::Object(_)) => vec![item.clone()],
            _ => return Err(bad("A policy needs a Statement")),
        };
        let own = format!("arn:aws:s3:::{bucket}");
        let check_action = |a: &str| {
            if a == "*" || a.to_ascii_lowercase().starts_with("s3:") {
                Ok(())
            } else {
                Err(bad(format!("Policy has an invalid action: {a}")))
            }
        };
        let check_resource = |r: &str| {
            let inside = r == own
                || r.strip_prefix(own.as_str()).is_some_and(|rest| rest.starts_with('/'))
                // `arn:aws:s3:::bucket*` would reach other buckets: only whole names.
                || r == "*";
            if inside {
                Ok(())
            } else {
                Err(bad(format!(
                    "Policy has an invalid resource: {r} (resources must lie in bucket {bucket})"
                )))
            }
        };
        let mut statements = Vec::with_capacity(raw.len());
        for item in &raw {
            let stmt = item
                .as_object()
                .ok_or_else(|| bad("A Statement is a JSON object"))?;
            if stmt.contains_key("NotPrincipal") {
                return Err(bad("NotPrincipal is not supported"));
            }
            let effect = match stmt.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return Err(bad("Effect must be \"Allow\" or \"Deny\"")),
            };
            let principals = principals(
                stmt.get("Principal")
                    .ok_or_else(|| bad("A bucket policy statement needs a Principal"))?,
            )?;
            let mut actions = matcher(stmt, "Action", &check_action)?;
            let (Matcher::Any(list) | Matcher::AnyBut(list)) = &mut actions;
            for a in list.iter_mut() {
                *a = a.to_ascii_lowercase();
            }
            statements.push(Statement {
                sid: stmt.get("Sid").and_then(Value::as_str).map(str::to_owned),
                effect,
                principals,
                actions,
                resources: matcher(stmt, "Resource", &check_resource)?,
                conditions: conditions(stmt.get("Condition"))?,
            });
        }
        Ok(Self { statements })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(doc: &str) -> String {
        Policy::parse(doc, "b").expect_err(doc).0
    }

    #[test]
    fn malformed_documents_are_refused_with_a_reason() {
        assert!(refused("{").contains("not valid JSON"));
        assert!(refused(r#"{"Statement": []}"#).contains("Statement"));
        let stmt = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
        assert!(refused(&stmt(r#"{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#)).contains("Effect"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}"#)).contains("invalid resource"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b*"}"#)).contains("invalid resource"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::b/*"}"#)).contains("invalid action"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}}}"#)).contains("operator"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:Referer":"x"}}}"#)).contains("key"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}}"#)).contains("CIDR"));
        assert!(
            refused(&stmt(
                r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#
            ))
            .contains("Principal")
        );
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}"#)).contains("both"));
        assert!(refused(&stmt(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123:user/x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#)).contains("principal"));
    }

    #[test]
    fn a_valid_document_is_normalised() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"r","Effect":"Allow",
                "Principal":{"AWS":["arn:aws:iam::bob:root","carol"]},
                "Action":["s3:GetObject","S3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
                "Condition":{"Bool":{"aws:SecureTransport":false}}}}"#,
            "b",
        )
        .unwrap();
        let s = &p.statements[0];
        assert_eq!(
            s.principals,
            Principals::Named(vec!["bob".into(), "carol".into()])
        );
        assert_eq!(
            s.actions,
            Matcher::Any(vec!["s3:getobject".into(), "s3:listbucket".into()])
        );
        assert_eq!(s.conditions[0].key, "aws:securetransport");
        assert_eq!(s.conditions[0].values, ["false"]);
    }
}
