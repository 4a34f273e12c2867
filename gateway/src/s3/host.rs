//! Virtual-host-style addressing for configured domains.
//!
//! s3s's own host parsers compare the Host header with the domain including any port and
//! treat every other host name as a bucket (CNAME style), which breaks clients that reach
//! the gateway as `localhost:9000` or through a port-forward. Here the port is ignored, a
//! host under a configured domain names its bucket, and any other host means path style.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

#[derive(Debug)]
pub struct VirtualHosts {
    domains: Vec<String>,
}

impl VirtualHosts {
    #[must_use]
    pub fn new(domains: &[String]) -> Self {
        Self {
            domains: domains
                .iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// The bucket a Host header names, if any (virtual-host style).
    pub fn bucket_of(&self, host: &str) -> Option<String> {
        self.resolve(host).and_then(|(_, bucket)| bucket)
    }

    /// The domain and bucket a Host header names, if it is under a configured domain.
    fn resolve<'a>(&'a self, host: &str) -> Option<(&'a str, Option<String>)> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for domain in &self.domains {
            if name == *domain {
                return Some((domain, None));
            }
            if let Some(bucket) = name
                .strip_suffix(domain.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
            {
                return Some((domain, Some(bucket.to_owned())));
            }
        }
        None
    }
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.resolve(host) {
            Some((domain, Some(bucket))) => VirtualHost::new(domain).with_bucket(bucket),
            Some((domain, None)) => VirtualHost::new(domain),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_configured_domains_only() {
        let hosts = VirtualHosts::new(&["s3.local".to_owned()]);
        assert_eq!(
            hosts.resolve("vhb.s3.local:9200"),
            Some(("s3.local", Some("vhb".to_owned())))
        );
        assert_eq!(
            hosts.resolve("my.dotted.bucket.s3.local"),
            Some(("s3.local", Some("my.dotted.bucket".to_owned())))
        );
        assert_eq!(hosts.resolve("S3.LOCAL:80"), Some(("s3.local", None)));
        assert_eq!(hosts.resolve("localhost:9000"), None);
        assert_eq!(hosts.resolve("evils3.local"), None);
        let vh = hosts.parse_host_header("localhost:9000").unwrap();
        assert_eq!(vh.bucket(), None);
    }
}
