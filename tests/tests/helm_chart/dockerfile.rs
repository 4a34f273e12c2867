//! The container image recipe in packaging/docker, checked statically against the chart.

use std::collections::BTreeSet;
use std::path::Path;

use vmgw_tests::workspace_root;

use crate::fixture::fixture;

#[test]
fn dockerfile_builds_what_the_chart_runs() {
    let root = workspace_root();
    let dockerfile = std::fs::read_to_string(root.join("packaging/docker/Dockerfile"))
        .expect("packaging/docker/Dockerfile");
    let instructions = dockerfile_instructions(&dockerfile);
    let of = |op: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let stages = of("FROM");
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    assert!(
        stages[0].starts_with("rust:1.95-slim-bookworm AS build"),
        "{stages:?}"
    );
    assert_eq!(stages[1], "gcr.io/distroless/cc-debian12:nonroot");

    // The binaries it builds are the workspace's, built as locked.
    let run = of("RUN").join(" ");
    assert!(run.contains("cargo build --release --locked"), "{run}");
    let workspace_bins = workspace_bin_names(&root);
    for bin in ["vmgw", "vmgw-mount"] {
        assert!(run.contains(&format!("--bin {bin} ")), "{run}");
        assert!(
            workspace_bins.contains(bin),
            "{bin} is not a workspace binary"
        );
        assert!(run.contains(&format!("target/release/{bin} /out/usr/local/bin/{bin}")));
    }
    assert!(of("COPY").contains(&"--from=build /out/usr/local/bin/ /usr/local/bin/"));

    // Runs as a numeric non-root user, the one the chart runs as.
    let user = of("USER");
    assert_eq!(user.len(), 1);
    let uid: u64 = user[0]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric UID");
    assert_ne!(uid, 0);
    let chart_uid = &fixture().report["default_values"]["securityContext"]["runAsUser"];
    assert_eq!(chart_uid.as_u64(), Some(uid));

    // The entrypoint is `vmgw serve`, which the chart's args follow.
    let entrypoint: Vec<String> =
        serde_json::from_str(of("ENTRYPOINT")[0]).expect("ENTRYPOINT in exec form");
    assert_eq!(entrypoint, ["/usr/local/bin/vmgw", "serve"]);

    // The image name and version the chart pulls by default.
    let chart = &fixture().report["chart"];
    let image = &fixture().report["default_values"]["image"];
    let app_version = chart["appVersion"].as_str().unwrap();
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains(&format!("\nversion = \"{app_version}\"\n")),
        "appVersion {app_version} is not the workspace version"
    );
    assert_eq!(image["tag"], "", "the tag defaults to appVersion");
    let repository = image["repository"].as_str().unwrap();
    assert!(dockerfile.contains(&format!(
        "docker build -f packaging/docker/Dockerfile -t {repository}:{app_version} ."
    )));
    let labels = of("LABEL").join(" ");
    assert!(labels.contains(&format!("org.opencontainers.image.title=\"{repository}\"")));
    assert!(labels.contains(&format!(
        "org.opencontainers.image.version=\"{app_version}\""
    )));

    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "{ignore}");
}

/// (instruction, arguments) with continuation lines joined and comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part.trim());
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

/// `[[bin]]` names of the workspace members.
fn workspace_bin_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for member in ["gateway", "mount", "bench"] {
        let manifest = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
        for section in manifest.split("[[bin]]").skip(1) {
            let name = section
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))
                .expect("a [[bin]] name");
            names.insert(name.trim_matches('"').to_owned());
        }
    }
    names
}
