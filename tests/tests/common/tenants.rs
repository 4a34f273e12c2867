//! Tenants made with the real `vmgw vm add`, for tests that need several identities.

use std::process::Command;

use vmgw_tests::{Gateway, run, vmgw_bin};

/// A tenant as `vmgw vm add --format json` describes it.
#[derive(Debug, Clone)]
pub struct Guest {
    pub access_key: String,
    pub secret_key: String,
    pub bucket: Option<String>,
    pub endpoint: String,
}

/// `vmgw ARGS --data-dir DIR`, for the admin commands of a running gateway.
#[must_use]
pub fn admin_cmd(gw: &Gateway, args: &[&str]) -> Command {
    let mut cmd = Command::new(vmgw_bin());
    cmd.args(args).arg("--data-dir").arg(&gw.data_dir);
    cmd
}

pub fn vm_add(gw: &Gateway, name: &str, extra: &[&str]) -> Guest {
    let mut args = vec!["vm", "add", name, "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(&mut admin_cmd(gw, &args));
    let v: serde_json::Value = serde_json::from_str(&out).expect("vm add prints JSON");
    Guest {
        access_key: v["access_key"].as_str().expect("access_key").to_owned(),
        secret_key: v["secret_key"].as_str().expect("secret_key").to_owned(),
        bucket: v["bucket"].as_str().map(str::to_owned),
        endpoint: v["endpoint"].as_str().expect("endpoint").to_owned(),
    }
}
