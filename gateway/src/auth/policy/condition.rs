//! Condition blocks: `"Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}`.
//!
//! Supported keys: `aws:SourceIp`, `aws:SecureTransport`, `s3:prefix`, `s3:delimiter`,
//! `s3:max-keys`, `aws:username` / `aws:userid` (the tenant name). Within one operator and
//! key, any value may match; all operators and keys of a statement must hold. A negated
//! operator (`StringNotEquals`, `NotIpAddress`, …) holds when the request lacks the key, as
//! in IAM.

use std::net::IpAddr;

use super::pattern::matches;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    IpAddress,
    NotIpAddress,
    Bool,
    NumericEquals,
    NumericLessThanEquals,
}

impl ConditionOp {
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "IpAddress" => Self::IpAddress,
            "NotIpAddress" => Self::NotIpAddress,
            "Bool" => Self::Bool,
            "NumericEquals" => Self::NumericEquals,
            "NumericLessThanEquals" => Self::NumericLessThanEquals,
            _ => return None,
        })
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals | Self::StringNotLike | Self::NotIpAddress
        )
    }
}

pub(super) const KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:securetransport",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "aws:username",
    "aws:userid",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub op: ConditionOp,
    /// Lowercase (IAM keys are case-insensitive).
    pub key: String,
    pub values: Vec<String>,
}

/// A parsed CIDR block (a bare address is a /32 or /128).
pub(super) fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
        None => {
            let a = text.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

fn in_cidr(ip: IpAddr, block: &str) -> bool {
    let Some((net, bits)) = parse_cidr(block) else {
        return false;
    };
    let ip = match (ip, net) {
        // An IPv4 client seen through an IPv6 socket.
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Condition {
    /// Whether the condition holds for a request whose value for the key is `actual`.
    #[must_use]
    pub fn holds(&self, actual: Option<&str>) -> bool {
        let Some(actual) = actual else {
            return self.op.negated();
        };
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|v| f(v));
        match self.op {
            ConditionOp::StringEquals => any(&|v| v == actual),
            ConditionOp::StringNotEquals => !any(&|v| v == actual),
            ConditionOp::StringEqualsIgnoreCase => any(&|v| v.eq_ignore_ascii_case(actual)),
            ConditionOp::StringLike => any(&|v| matches(v, actual)),
            ConditionOp::StringNotLike => !any(&|v| matches(v, actual)),
            ConditionOp::IpAddress | ConditionOp::NotIpAddress => {
                let inside = actual
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| any(&|v| in_cidr(ip, v)));
                inside == (self.op == ConditionOp::IpAddress)
            }
            ConditionOp::Bool => any(&|v| v.eq_ignore_ascii_case(actual)),
            ConditionOp::NumericEquals | ConditionOp::NumericLessThanEquals => {
                let Ok(actual) = actual.parse::<i64>() else {
                    return false;
                };
                any(&|v| {
                    v.parse::<i64>().is_ok_and(|v| match self.op {
                        ConditionOp::NumericEquals => actual == v,
                        _ => actual <= v,
                    })
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: ConditionOp, values: &[&str]) -> Condition {
        Condition {
            op,
            key: "k".into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn ip_blocks() {
        let c = cond(ConditionOp::IpAddress, &["10.0.0.0/8", "192.168.1.7"]);
        assert!(c.holds(Some("10.1.2.3")));
        assert!(c.holds(Some("192.168.1.7")));
        assert!(!c.holds(Some("192.168.1.8")));
        assert!(!c.holds(Some("127.0.0.1")));
        assert!(c.holds(Some("::ffff:10.9.9.9")), "IPv4-mapped IPv6 clients");
        let not = cond(ConditionOp::NotIpAddress, &["127.0.0.0/8"]);
        assert!(!not.holds(Some("127.0.0.2")));
        assert!(not.holds(Some("10.0.0.1")));
        let v6 = cond(ConditionOp::IpAddress, &["fd00::/8"]);
        assert!(v6.holds(Some("fd12::1")) && !v6.holds(Some("fe80::1")));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("nonsense").is_none());
    }

    #[test]
    fn strings_and_missing_keys() {
        let like = cond(ConditionOp::StringLike, &["public/*", "shared/*"]);
        assert!(like.holds(Some("shared/x")));
        assert!(!like.holds(Some("private/x")));
        assert!(!like.holds(None), "a positive operator needs the key");
        assert!(cond(ConditionOp::StringNotEquals, &["a"]).holds(None));
        assert!(cond(ConditionOp::Bool, &["false"]).holds(Some("false")));
        assert!(!cond(ConditionOp::Bool, &["false"]).holds(Some("true")));
        assert!(cond(ConditionOp::NumericLessThanEquals, &["100"]).holds(Some("50")));
        assert!(!cond(ConditionOp::NumericLessThanEquals, &["100"]).holds(Some("500")));
    }
}
