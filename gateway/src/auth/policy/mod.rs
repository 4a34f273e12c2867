//! Bucket policies: the core of the IAM policy language, as S3 evaluates it.
//!
//! A document is parsed and validated once, when it is put ([`Policy::parse`]): anything
//! vmgw would not enforce exactly (an unknown condition operator or key, a resource outside
//! the bucket) is refused with `MalformedPolicy` rather than ignored, because an ignored
//! `Deny` would silently grant access. Evaluation ([`Policy::evaluate`]) is a pure function
//! of the document and the request: an explicit `Deny` wins over any `Allow`.

mod condition;
mod eval;
mod parse;
mod pattern;

pub use condition::{Condition, ConditionOp};
pub use eval::{Decision, RequestFacts};
pub use parse::PolicyError;

/// A validated bucket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Whom a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"`: everyone, anonymous requests included.
    Everyone,
    /// Tenants by name (`"web01"` or `"arn:aws:iam::web01:root"`); `admin` is the admin.
    Named(Vec<String>),
}

/// A list of patterns, or (`Not…`) everything but them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    Any(Vec<String>),
    AnyBut(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principals: Principals,
    /// `s3:` actions, matched case-insensitively.
    pub actions: Matcher,
    /// `arn:aws:s3:::bucket[/key]` patterns, matched case-sensitively.
    pub resources: Matcher,
    /// All must hold.
    pub conditions: Vec<Condition>,
}
