//! Ready-to-use client configuration for a guest, in the formats `vmgw vm add` prints.
//!
//! Keys and secrets are generated from letters and digits only, and endpoints, regions and
//! bucket names are validated by the gateway, so every value is safe unquoted in each
//! format below.

use clap::ValueEnum;

use super::GuestAccess;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuestFormat {
    /// Shell `export` lines (AWS_* and AWS_ENDPOINT_URL, understood by aws-cli and the SDKs).
    Env,
    /// An aws-cli config file (`~/.aws/config`, or `AWS_CONFIG_FILE`) holding the key too.
    Aws,
    /// An rclone remote named `vmgw` (`~/.config/rclone/rclone.conf`).
    Rclone,
    /// Everything as one JSON object.
    Json,
    /// cloud-init user-data: the aws-cli config, an rclone remote, an s3fs-style passwd
    /// file and an fstab entry that mounts the bucket with vmgw-mount.
    CloudInit,
}

/// The configuration text for `access` in `format`.
#[must_use]
pub fn render(access: &GuestAccess, format: GuestFormat) -> String {
    match format {
        GuestFormat::Env => env(access),
        GuestFormat::Aws => aws(access),
        GuestFormat::Rclone => rclone(access),
        GuestFormat::CloudInit => cloud_init(access),
        GuestFormat::Json => {
            let mut text = serde_json::to_string_pretty(access).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

fn env(a: &GuestAccess) -> String {
    let mut out = format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_DEFAULT_REGION={}\nexport AWS_ENDPOINT_URL={}\n",
        a.access_key, a.secret_key, a.region, a.endpoint
    );
    if let Some(bucket) = &a.bucket {
        out.push_str(&format!("export VMGW_BUCKET={bucket}\n"));
    }
    out
}

fn aws(a: &GuestAccess) -> String {
    // `endpoint_url` in the config file: aws-cli v2 ≥ 2.13 and v1 ≥ 1.29. Path-style
    // addressing, because guests reach the gateway by IP address.
    format!(
        "# aws-cli configuration for vmgw tenant {tenant}: save as ~/.aws/config (mode 0600)\n\
         [default]\n\
         region = {region}\n\
         endpoint_url = {endpoint}\n\
         aws_access_key_id = {ak}\n\
         aws_secret_access_key = {sk}\n\
         s3 =\n    addressing_style = path\n",
        tenant = a.tenant,
        region = a.region,
        endpoint = a.endpoint,
        ak = a.access_key,
        sk = a.secret_key,
    )
}

fn rclone(a: &GuestAccess) -> String {
    format!(
        "# rclone remote for vmgw tenant {tenant}: add to ~/.config/rclone/rclone.conf\n\
         [vmgw]\n\
         type = s3\n\
         provider = Other\n\
         env_auth = false\n\
         access_key_id = {ak}\n\
         secret_access_key = {sk}\n\
         endpoint = {endpoint}\n\
         region = {region}\n",
        tenant = a.tenant,
        ak = a.access_key,
        sk = a.secret_key,
        endpoint = a.endpoint,
        region = a.region,
    )
}

/// The fstab entry that mounts the tenant's bucket at `/mnt/BUCKET` with vmgw-mount (through
/// `mount.fuse3`, which runs `vmgw-mount BUCKET /mnt/BUCKET -o OPTIONS`).
#[must_use]
pub fn fstab_fields(a: &GuestAccess, bucket: &str) -> [String; 6] {
    [
        bucket.to_owned(),
        format!("/mnt/{bucket}"),
        "fuse.vmgw-mount".to_owned(),
        format!(
            "_netdev,allow_other,url={},endpoint={},passwd_file=/etc/passwd-s3fs",
            a.endpoint, a.region
        ),
        "0".to_owned(),
        "0".to_owned(),
    ]
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{by}{l}\n"))
        .collect()
}

fn cloud_init(a: &GuestAccess) -> String {
    // Each file's content is a YAML literal block; every value in it is letters, digits and
    // URL characters, and none starts a line with a YAML indicator.
    let mut out = format!(
        "#cloud-config\n\
         # vmgw tenant {tenant}: S3 access for aws-cli, rclone, s3fs and vmgw-mount\n\
         write_files:\n\
         \x20 - path: /root/.aws/config\n\
         \x20   permissions: '0600'\n\
         \x20   content: |\n{aws}\
         \x20 - path: /root/.config/rclone/rclone.conf\n\
         \x20   permissions: '0600'\n\
         \x20   content: |\n{rclone}\
         \x20 - path: /etc/passwd-s3fs\n\
         \x20   permissions: '0600'\n\
         \x20   content: |\n\
         \x20     {ak}:{sk}\n",
        tenant = a.tenant,
        aws = indent(&aws(a), "      "),
        rclone = indent(&rclone(a), "      "),
        ak = a.access_key,
        sk = a.secret_key,
    );
    if let Some(bucket) = &a.bucket {
        let fields = fstab_fields(a, bucket);
        let quoted: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
        out.push_str(&format!("mounts:\n  - [{}]\n", quoted.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GuestAccess {
        GuestAccess {
            tenant: "web01".into(),
            access_key: "VMGWAAAABBBBCCCCDDDD".into(),
            secret_key: "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Tabcd".into(),
            bucket: Some("web01".into()),
            endpoint: "http://192.168.122.1:9000".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn every_format_carries_the_key_and_endpoint() {
        let a = sample();
        for format in [
            GuestFormat::Env,
            GuestFormat::Aws,
            GuestFormat::Rclone,
            GuestFormat::Json,
        ] {
            let text = render(&a, format);
            assert!(text.contains(&a.access_key), "{format:?}: {text}");
            assert!(text.contains(&a.secret_key), "{format:?}: {text}");
            assert!(text.contains(&a.endpoint), "{format:?}: {text}");
        }
        let json: GuestAccess = serde_json::from_str(&render(&a, GuestFormat::Json)).unwrap();
        assert_eq!(json, a);
        assert!(render(&a, GuestFormat::Env).contains("export VMGW_BUCKET=web01\n"));
    }
}
