//! Learning which of vmgw's fast paths a server offers: vmgw names them in an
//! `x-vmgw-features` header on every response. Only a positive announcement turns one on —
//! a server that silently ignored, say, `x-amz-write-offset-bytes` would overwrite an
//! object instead of appending to it.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};

use super::Capabilities;

pub const HEADER: &str = "x-vmgw-features";

/// Parses the header's comma-separated list.
#[must_use]
pub fn capabilities(header: Option<&str>) -> Capabilities {
    let mut out = Capabilities::default();
    for feature in header.unwrap_or_default().split(',').map(str::trim) {
        match feature {
            "rename-object" => out.rename_object = true,
            "write-offset" => out.append = true,
            "list-metadata" => out.list_metadata = true,
            _ => {}
        }
    }
    out
}

/// Keeps the header of the response it sees, for one request.
#[derive(Debug, Clone, Default)]
pub struct FeatureSniffer(pub Arc<Mutex<Option<String>>>);

impl Intercept for FeatureSniffer {
    fn name(&self) -> &'static str {
        "vmgw-features"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let value = context.response().headers().get(HEADER).map(str::to_owned);
        *self.0.lock().expect("feature sniffer lock") = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_named_features_are_on() {
        assert_eq!(capabilities(None), Capabilities::default());
        let all = capabilities(Some("rename-object, write-offset, list-metadata"));
        assert!(all.rename_object && all.append && all.list_metadata);
        let some = capabilities(Some("rename-object,other"));
        assert!(some.rename_object && !some.append && !some.list_metadata);
    }
}
