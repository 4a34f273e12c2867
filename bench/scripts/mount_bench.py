#!/usr/bin/env python3
"""Helpers of mount-bench.sh: the parts that are awkward in bash.

  crate-dirs LOCKFILE REGISTRY_SRC NAME...   the registry source dirs of the crates, at the
                                             versions Cargo.lock pins (a deterministic tree)
  populate ENDPOINT BUCKET PREFIX DIRS FILES PREFIX/d000/f000 ... through the S3 API
  count ENDPOINT BUCKET PREFIX               "<objects> <bytes>" under PREFIX
  requests-delta BEFORE.json AFTER.json      S3 requests between two `vmgw requests --json`
  report RESULTS.tsv TITLE                   the Markdown tables

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as for aws-cli.
"""

import json
import re
import statistics
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLIENTS = ["vmgw-mount", "s3fs", "rclone"]
HEADERS = {"vmgw-mount": "vmgw-mount", "s3fs": "s3fs", "rclone": "rclone mount"}
# RSS target of issue 5 for vmgw-mount while it copies a 1 GiB file.
RSS_LIMIT_MIB = 150


def s3_client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        # One pooled connection per uploader thread.
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=32),
    )


def crate_dirs(lockfile, registry_src, names):
    packages = tomllib.loads(Path(lockfile).read_text())["package"]
    versions = {}
    for p in packages:
        if p.get("source", "").startswith("registry+"):
            versions.setdefault(p["name"], []).append(p["version"])
    for name in names:
        found = versions.get(name)
        if not found:
            sys.exit(f"crate {name} is not in {lockfile}")
        # The newest pinned version when several are (deterministic for one lockfile).
        version = max(found, key=lambda v: tuple(int(x) for x in re.findall(r"\d+", v)))
        d = Path(registry_src) / f"{name}-{version}"
        if not d.is_dir():
            sys.exit(f"{d} is missing: run `cargo fetch --locked` in the workspace")
        print(d)


def populate(endpoint, bucket, prefix, dirs, files):
    s3 = s3_client(endpoint)
    keys = [f"{prefix}d{d:03}/f{f:03}" for d in range(dirs) for f in range(files)]

    def put(key):
        # Distinct small bodies; the listing shows their sizes.
        s3.put_object(Bucket=bucket, Key=key, Body=f"object {key}\n".encode())

    with ThreadPoolExecutor(16) as pool:
        for _ in pool.map(put, keys):
            pass


def count(endpoint, bucket, prefix):
    s3 = s3_client(endpoint)
    objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            # Directory markers (s3fs, vmgw-mount) are not files.
            if not o["Key"].endswith("/"):
                objects += 1
                size += o["Size"]
    print(objects, size)


def requests_delta(before, after):
    b = json.loads(Path(before).read_text())
    a = json.loads(Path(after).read_text())
    parts = []
    for op, count in sorted(a.items(), key=lambda kv: -kv[1]["requests"]):
        was = b.get(op, {})
        n = count["requests"] - was.get("requests", 0)
        moved = count["bytes_in"] + count["bytes_out"] - was.get("bytes_in", 0) - was.get("bytes_out", 0)
        if n:
            # Bytes show read-ahead that was fetched and thrown away, or re-uploads.
            parts.append(f"{op} {n}" + (f" ({moved / 2**20:.0f} MiB)" if moved >= 2**20 else ""))
    print(", ".join(parts) or "none")


# Rows: id, label, unit, higher_is_better (None: reference only, no verdict).
ROWS = [
    ("write", "sequential write of a {big} file (dd bs=1M conv=fsync)", "MiB/s", True),
    ("read", "sequential read of it, after a remount", "MiB/s", True),
    ("create", "create {small} files of 4 KiB in one directory (cp)", "files/s", True),
    ("lsr", "`ls -lR` over {tree} files written through S3", "s", False),
    ("untar", "extract a source-tree tarball", "s", False),
    ("rss-write", "peak RSS of the mount process during the {big} write", "MiB", None),
    ("rss-read", "peak RSS of the mount process during the {big} read", "MiB", None),
]
TIMED = [row for row, _, _, higher in ROWS if higher is not None]


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "s":
        return f"{v:.2f}"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def report(results, title):
    values, notes, requests, params = {}, {}, {}, {}
    for line in Path(results).read_text().splitlines():
        kind, client, row, rest = line.split("\t", 3)
        if kind == "value":
            values.setdefault((client, row), []).append(float(rest))
        elif kind == "note":
            notes[row] = rest
        elif kind == "param":
            params[row] = rest
        elif kind == "requests":
            # The first round's: later rounds overwrite what the first wrote.
            requests.setdefault((client, row), rest)
    big = int(params["big_mib"])
    dirs, per_dir = int(params["tree_dirs"]), int(params["tree_files"])
    labels = {
        "big": "1 GiB" if big == 1024 else f"{big} MiB",
        "small": f"{int(params['small']):,}",
        "tree": f"{dirs * per_dir:,} ({dirs} dirs × {per_dir})",
    }
    # Only the clients this run measured (MOUNT_BENCH_CLIENTS may leave some out).
    clients = [c for c in CLIENTS if any(k[0] == c for k in values)]
    rounds = int(params["rounds"])
    if rounds > 1:
        title += f", medians of {rounds} rounds"
    print(f"### {title}\n")
    print("| workload | unit | " + " | ".join(HEADERS[c] for c in clients) + " | vmgw-mount beats both |")
    print("|---|---|" + "---:|" * len(clients) + ":---:|")
    for row, label, unit, higher in ROWS:
        label = label.format(**labels)
        if row in notes:
            label = f"{label} ({notes[row]})"
        cells = [statistics.median(values[(c, row)]) if (c, row) in values else None for c in clients]
        if row.startswith("rss-"):
            ours = cells[0]
            verdict = "–" if ours is None else ("✅" if ours < RSS_LIMIT_MIB else "❌") + f" < {RSS_LIMIT_MIB} MiB"
        elif higher is None or len(clients) != len(CLIENTS) or None in cells:
            verdict = "–"
        else:
            ours, peers = cells[0], cells[1:]
            beats = all(ours > p for p in peers) if higher else all(ours < p for p in peers)
            verdict = "✅" if beats else "❌"
        print(f"| {label} | {unit} | " + " | ".join(fmt(v, unit) for v in cells) + f" | {verdict} |")
    # Client and server share the machine's cores: CPU spent is throughput lost elsewhere.
    print("\nCPU seconds during each timed step, mount process / gateway:\n")
    print("| workload | " + " | ".join(HEADERS[c] for c in clients) + " |")
    print("|---|" + "---:|" * len(clients))
    for row in TIMED:
        cells = []
        for c in clients:
            ours, gw = values.get((c, f"cpu-{row}")), values.get((c, f"gwcpu-{row}"))
            cells.append(
                "–"
                if ours is None or gw is None
                else f"{statistics.median(ours):.2f} / {statistics.median(gw):.2f}"
            )
        print(f"| {row} | " + " | ".join(cells) + " |")
    if requests:
        print("\nS3 requests at the gateway during each timed step (`vmgw requests`; first round):\n")
        print("| workload | " + " | ".join(HEADERS[c] for c in clients) + " |")
        print("|---|" + "---|" * len(clients))
        for row in TIMED:
            cells = [requests.get((c, row), "–") for c in clients]
            print(f"| {row} | " + " | ".join(cells) + " |")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "crate-dirs":
        crate_dirs(args[0], args[1], args[2:])
    elif cmd == "populate":
        populate(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif cmd == "count":
        count(*args)
    elif cmd == "requests-delta":
        requests_delta(*args)
    elif cmd == "report":
        report(*args)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
