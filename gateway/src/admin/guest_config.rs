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

/// The CA certificate a guest must trust to reach an HTTPS endpoint whose certificate no
/// public CA issued (`vmgw cert self-signed`), and where the guest keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCa {
    pub pem: String,
    pub path: String,
}

/// Where guests keep the gateway's CA certificate unless told otherwise.
pub const DEFAULT_GUEST_CA_PATH: &str = "/etc/vmgw/ca.pem";

/// The configuration text for `access` in `format`, trusting `ca` when given.
#[must_use]
pub fn render(access: &GuestAccess, format: GuestFormat, ca: Option<&GuestCa>) -> String {
    match format {
        GuestFormat::Env => env(access, ca),
        GuestFormat::Aws => aws(access, ca),
        GuestFormat::Rclone => rclone(access, ca),
        GuestFormat::CloudInit => cloud_init(access, ca),
        GuestFormat::Json => {
            let mut value = serde_json::to_value(access).unwrap_or_default();
            if let (Some(ca), Some(object)) = (ca, value.as_object_mut()) {
                object.insert("ca_path".into(), ca.path.clone().into());
                object.insert("ca_pem".into(), ca.pem.clone().into());
            }
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

fn env(a: &GuestAccess, ca: Option<&GuestCa>) -> String {
    let mut out = format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_DEFAULT_REGION={}\nexport AWS_ENDPOINT_URL={}\n",
        a.access_key, a.secret_key, a.region, a.endpoint
    );
    if let Some(ca) = ca {
        out.push_str(&format!("export AWS_CA_BUNDLE={}\n", ca.path));
    }
    if let Some(bucket) = &a.bucket {
        out.push_str(&format!("export VMGW_BUCKET={bucket}\n"));
    }
    out
}

fn aws(a: &GuestAccess, ca: Option<&GuestCa>) -> String {
    // `endpoint_url` in the config file: aws-cli v2 ≥ 2.13 and v1 ≥ 1.29. Path-style
    // addressing, because guests reach the gateway by IP address. aws-cli trusts its own CA
    // bundle, not the system's, so a private CA is named here.
    let ca_bundle = ca.map_or_else(String::new, |ca| format!("ca_bundle = {}\n", ca.path));
    format!(
        "# aws-cli configuration for vmgw tenant {tenant}: save as ~/.aws/config (mode 0600)\n\
         [default]\n\
         region = {region}\n\
         endpoint_url = {endpoint}\n\
         {ca_bundle}\
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

fn rclone(a: &GuestAccess, ca: Option<&GuestCa>) -> String {
    // A remote cannot name a CA; rclone takes it as a global flag or variable.
    let ca_note = ca.map_or_else(String::new, |ca| {
        format!(
            "# the endpoint's CA: run rclone with --ca-cert {0} (or RCLONE_CA_CERT={0})\n",
            ca.path
        )
    });
    format!(
        "{ca_note}# rclone remote for vmgw tenant {tenant}: add to ~/.config/rclone/rclone.conf\n\
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

fn cloud_init(a: &GuestAccess, ca: Option<&GuestCa>) -> String {
    // Each file's content is a YAML literal block; every value in it is letters, digits and
    // URL characters (or base64, in a certificate), and none starts a line with a YAML
    // indicator.
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
        aws = indent(&aws(a, ca), "      "),
        rclone = indent(&rclone(a, ca), "      "),
        ak = a.access_key,
        sk = a.secret_key,
    );
    if let Some(ca) = ca {
        // The file for aws-cli's ca_bundle, and the system store for everything else
        // (rclone, s3fs, vmgw-mount): cloud-init's ca_certs module.
        out.push_str(&format!(
            "\x20 - path: {}\n\x20   permissions: '0644'\n\x20   content: |\n{}",
            ca.path,
            indent(&ca.pem, "      ")
        ));
        out.push_str(&format!(
            "ca_certs:\n  trusted:\n    - |\n{}",
            indent(&ca.pem, "      ")
        ));
    }
    if let Some(bucket) = &a.bucket {
        let fields = fstab_fields(a, bucket);
        let quoted: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
        out.push_str(&format!("mounts:\n  - [{}]\n", quoted.join(", ")));
    }
    out
}

/// Reads `--ca-cert FILE` for a guest that keeps it at `path`: the file must hold PEM
/// certificates, and the path must be absolute and plain (it goes unquoted into each format).
pub fn guest_ca(file: &std::path::Path, path: &str) -> Result<GuestCa, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let plain = path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    if !plain {
        return Err(format!(
            "--guest-ca-path {path:?}: use an absolute path of letters, digits, '/', '.', '_' and '-'"
        ));
    }
    let pem =
        std::fs::read_to_string(file).map_err(|e| format!("--ca-cert {}: {e}", file.display()))?;
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--ca-cert {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-cert {}: no CERTIFICATE in the file",
            file.display()
        ));
    }
    Ok(GuestCa {
        pem,
        path: path.to_owned(),
    })
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
            let text = render(&a, format, None);
            assert!(text.contains(&a.access_key), "{format:?}: {text}");
            assert!(text.contains(&a.secret_key), "{format:?}: {text}");
            assert!(text.contains(&a.endpoint), "{format:?}: {text}");
        }
        let json: GuestAccess = serde_json::from_str(&render(&a, GuestFormat::Json, None)).unwrap();
        assert_eq!(json, a);
        assert!(render(&a, GuestFormat::Env, None).contains("export VMGW_BUCKET=web01\n"));
    }

    #[test]
    fn a_private_ca_reaches_every_format() {
        let a = GuestAccess {
            endpoint: "https://192.168.122.1:9443".into(),
            ..sample()
        };
        let pem = "-----BEGIN CERTIFICATE-----\nTUlJQgo=\n-----END CERTIFICATE-----\n";
        let ca = GuestCa {
            pem: pem.into(),
            path: "/etc/vmgw/ca.pem".into(),
        };
        assert!(
            render(&a, GuestFormat::Env, Some(&ca))
                .contains("export AWS_CA_BUNDLE=/etc/vmgw/ca.pem\n")
        );
        assert!(
            render(&a, GuestFormat::Aws, Some(&ca)).contains("\nca_bundle = /etc/vmgw/ca.pem\n")
        );
        assert!(render(&a, GuestFormat::Rclone, Some(&ca)).contains("--ca-cert /etc/vmgw/ca.pem"));
        let json: serde_json::Value =
            serde_json::from_str(&render(&a, GuestFormat::Json, Some(&ca))).unwrap();
        assert_eq!(json["ca_pem"], pem);
        let cloud = render(&a, GuestFormat::CloudInit, Some(&ca));
        assert!(cloud.contains("  - path: /etc/vmgw/ca.pem\n"), "{cloud}");
        assert!(
            cloud.contains("ca_certs:\n  trusted:\n    - |\n      -----BEGIN CERTIFICATE-----\n"),
            "{cloud}"
        );
        assert!(!render(&a, GuestFormat::CloudInit, None).contains("ca_certs"));
    }

    #[test]
    fn the_guest_ca_path_must_be_plain_and_the_file_pem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        assert!(
            guest_ca(&file, "/etc/vmgw/ca.pem")
                .unwrap_err()
                .contains("no CERTIFICATE")
        );
        assert!(guest_ca(&file, "relative/ca.pem").is_err());
        assert!(guest_ca(&file, "/etc/vmgw/ca pem").is_err());
    }
}
