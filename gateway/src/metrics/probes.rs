//! Readiness: the metadata store answers and every local tier is usable. A remote tier that
//! is down makes the gateway degraded, not unready: local objects are still served, and a
//! restart by an orchestrator would not bring the remote back.

use serde::Serialize;

use crate::objects::ObjectService;

#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// `ready`, `degraded` (a remote tier is down) or `unready`.
    pub status: &'static str,
    /// Per tier: `ok` or why not.
    pub tiers: std::collections::BTreeMap<String, String>,
    pub metadata: String,
}

impl Readiness {
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.status != "unready"
    }
}

/// Checks the metadata store and every tier. Blocking.
#[must_use]
pub fn readiness(objects: &ObjectService) -> Readiness {
    let metadata = objects.metadata_answers().err().map(|e| e.to_string());
    let mut tiers = std::collections::BTreeMap::new();
    let (mut local_down, mut remote_down) = (false, false);
    for (name, remote, check) in objects.tiers().probe_all() {
        if let Err(e) = &check {
            *(if remote {
                &mut remote_down
            } else {
                &mut local_down
            }) = true;
            tiers.insert(name, e.to_string());
        } else {
            tiers.insert(name, "ok".to_owned());
        }
    }
    let status = if metadata.is_some() || local_down {
        "unready"
    } else if remote_down {
        "degraded"
    } else {
        "ready"
    };
    let metadata = metadata.unwrap_or_else(|| "ok".to_owned());
    Readiness {
        status,
        tiers,
        metadata,
    }
}
