#!/usr/bin/env bash
# Move throughput to a remote tier: vmgw with ssd + a remote tier on moto_server (a real,
# if slow, S3 server in Python), N objects of SIZE MiB PUT to ssd, then each moved with
# `vmgw tier move` (which copies, reads the remote copy back to verify its MD5, and swaps
# the layout). Prints MiB/s of moved bytes. Usage: remote-move.sh [VMGW_BIN] [N] [SIZE_MIB]
set -euo pipefail
bin="${1:-target/release/vmgw}"
count="${2:-4}"
size_mib="${3:-64}"
bin="$(realpath "$bin")"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
unset AWS_CA_BUNDLE
port_moto=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port_gw=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port_moto" >/dev/null 2>&1 &
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port_moto") 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto AWS_DEFAULT_REGION=us-east-1
python3 - "$port_moto" <<'PY'
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/cold", method="PUT")
urllib.request.urlopen(req).read()
PY
cat > "$work/vmgw.toml" <<TOML
listen = ["127.0.0.1:$port_gw"]
[[tiers]]
name = "ssd"
path = "tiers/ssd"
[[tiers]]
name = "remote"
kind = "s3"
endpoint = "http://127.0.0.1:$port_moto"
bucket = "cold"
[read_promotion]
policy = "off"
TOML
export VMGW_ACCESS_KEY=benchkey VMGW_SECRET_KEY=benchsecret0123456789
"$bin" serve --config "$work/vmgw.toml" --data-dir "$work/data" >"$work/gw.log" 2>&1 &
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port_gw") 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret0123456789
head -c $((size_mib << 20)) /dev/urandom >"$work/body"
aws --endpoint-url "http://127.0.0.1:$port_gw" s3api create-bucket --bucket bench >/dev/null
for i in $(seq "$count"); do
    aws --endpoint-url "http://127.0.0.1:$port_gw" s3api put-object --bucket bench --key "o$i" --body "$work/body" >/dev/null
done
start=$(date +%s.%N)
for i in $(seq "$count"); do
    "$bin" tier move bench "o$i" remote --data-dir "$work/data" >/dev/null
done
end=$(date +%s.%N)
python3 -c "n=$count*$size_mib; t=$end-$start; print(f'moved {n} MiB ssd -> remote (moto) in {t:.2f} s: {n/t:.1f} MiB/s')"
