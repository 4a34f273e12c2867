//! Evaluating a policy for one request.

use super::pattern::matches;
use super::{Effect, Matcher, Policy, Principals, Statement};
use crate::auth::Principal;

/// What a request is, in the policy language's terms.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub principal: &'a Principal,
    /// Lowercase, e.g. `s3:getobject`.
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    pub source_ip: Option<String>,
    pub secure: bool,
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A `Deny` statement applies: refused whatever else says.
    Deny,
    /// An `Allow` statement applies and no `Deny` does.
    Allow,
    /// No statement applies.
    Silent,
}

impl RequestFacts<'_> {
    fn value(&self, key: &str) -> Option<String> {
        match key {
            "aws:sourceip" => self.source_ip.clone(),
            "aws:securetransport" => Some(self.secure.to_string()),
            "s3:prefix" => self.prefix.clone(),
            "s3:delimiter" => self.delimiter.clone(),
            "s3:max-keys" => self.max_keys.clone(),
            "aws:username" | "aws:userid" => match self.principal {
                Principal::Tenant(name) => Some(name.clone()),
                Principal::Admin => Some("admin".to_owned()),
                Principal::Anonymous => None,
            },
            _ => None,
        }
    }
}

/// Whether `text` matches; actions are lowercase already on both sides (parsing lowered the
/// patterns, [`RequestFacts::action`] is lowercase), resources are compared as they are.
fn matched(m: &Matcher, text: &str) -> bool {
    let hit = |items: &[String]| items.iter().any(|p| matches(p, text));
    match m {
        Matcher::Any(items) => hit(items),
        Matcher::AnyBut(items) => !hit(items),
    }
}

fn principal_matches(p: &Principals, who: &Principal) -> bool {
    match p {
        Principals::Everyone => true,
        Principals::Named(names) => match who {
            Principal::Tenant(name) => names.iter().any(|n| n == name),
            Principal::Admin => names.iter().any(|n| n == "admin"),
            Principal::Anonymous => false,
        },
    }
}

fn applies(s: &Statement, facts: &RequestFacts<'_>) -> bool {
    principal_matches(&s.principals, facts.principal)
        && matched(&s.actions, facts.action)
        && matched(&s.resources, facts.resource)
        && s.conditions
            .iter()
            .all(|c| c.holds(facts.value(&c.key).as_deref()))
}

impl Policy {
    #[must_use]
    pub fn evaluate(&self, facts: &RequestFacts<'_>) -> Decision {
        let mut decision = Decision::Silent;
        for s in self.statements.iter().filter(|s| applies(s, facts)) {
            match s.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => decision = Decision::Allow,
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(statements: &str) -> Policy {
        Policy::parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            "b",
        )
        .unwrap()
    }

    fn facts<'a>(who: &'a Principal, action: &'a str, resource: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            principal: who,
            action,
            resource,
            source_ip: Some("127.0.0.1".into()),
            secure: false,
            prefix: None,
            delimiter: None,
            max_keys: None,
        }
    }

    const PUBLIC_READ: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#;

    #[test]
    fn public_read_lets_everyone_read_objects_and_nothing_else() {
        let p = policy(PUBLIC_READ);
        let anon = Principal::Anonymous;
        assert_eq!(
            p.evaluate(&facts(&anon, "s3:getobject", "arn:aws:s3:::b/k")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&facts(&anon, "s3:putobject", "arn:aws:s3:::b/k")),
            Decision::Silent
        );
        assert_eq!(
            p.evaluate(&facts(&anon, "s3:listbucket", "arn:aws:s3:::b")),
            Decision::Silent
        );
        assert_eq!(
            p.evaluate(&facts(&anon, "s3:getobject", "arn:aws:s3:::b")),
            Decision::Silent
        );
    }

    #[test]
    fn explicit_deny_wins_in_any_order() {
        let bob = Principal::Tenant("bob".into());
        let deny = r#"{"Effect":"Deny","Principal":{"AWS":"bob"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}"#;
        let allow = r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}"#;
        for p in [
            policy(&format!("{deny},{allow}")),
            policy(&format!("{allow},{deny}")),
        ] {
            assert_eq!(
                p.evaluate(&facts(&bob, "s3:deleteobject", "arn:aws:s3:::b/k")),
                Decision::Deny
            );
            assert_eq!(
                p.evaluate(&facts(&bob, "s3:putobject", "arn:aws:s3:::b/k")),
                Decision::Allow
            );
        }
    }

    #[test]
    fn named_principals_match_only_themselves() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::bob:root"},"Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}"#,
        );
        let (bob, carol) = (
            Principal::Tenant("bob".into()),
            Principal::Tenant("carol".into()),
        );
        assert_eq!(
            p.evaluate(&facts(&bob, "s3:getobject", "arn:aws:s3:::b/x")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&facts(&bob, "s3:getobjecttagging", "arn:aws:s3:::b/x")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&facts(&carol, "s3:getobject", "arn:aws:s3:::b/x")),
            Decision::Silent
        );
        assert_eq!(
            p.evaluate(&facts(
                &Principal::Anonymous,
                "s3:getobject",
                "arn:aws:s3:::b/x"
            )),
            Decision::Silent
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let bob = Principal::Tenant("bob".into());
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"NotAction":["s3:DeleteObject","s3:PutObject"],"NotResource":"arn:aws:s3:::b/secret/*"}"#,
        );
        assert_eq!(
            p.evaluate(&facts(&bob, "s3:getobject", "arn:aws:s3:::b/open/x")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&facts(&bob, "s3:getobject", "arn:aws:s3:::b/secret/x")),
            Decision::Silent
        );
        assert_eq!(
            p.evaluate(&facts(&bob, "s3:putobject", "arn:aws:s3:::b/open/x")),
            Decision::Silent
        );
    }

    #[test]
    fn conditions_on_address_transport_and_prefix() {
        let bob = Principal::Tenant("bob".into());
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"shared/*"},"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}"#,
        );
        let mut f = facts(&bob, "s3:listbucket", "arn:aws:s3:::b");
        assert_eq!(p.evaluate(&f), Decision::Silent, "no prefix given");
        f.prefix = Some("shared/a".into());
        assert_eq!(p.evaluate(&f), Decision::Allow);
        f.source_ip = Some("10.0.0.1".into());
        assert_eq!(
            p.evaluate(&f),
            Decision::Silent,
            "outside the address block"
        );

        let tls_only = policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
        );
        let mut f = facts(&bob, "s3:getobject", "arn:aws:s3:::b/k");
        assert_eq!(tls_only.evaluate(&f), Decision::Deny);
        f.secure = true;
        assert_eq!(tls_only.evaluate(&f), Decision::Silent);
    }
}
