#!/usr/bin/env bash
# FUSE clients on one vmgw, in one run: vmgw-mount, s3fs and rclone mount, each on a bucket
# of its own, each with its defaults (plus only what reaching a path-style http endpoint
# needs). Workloads (issue 5): sequential write and read of a 1 GiB file, creating 1,000
# files of 4 KiB, `ls -lR` over 10,000 files written through the S3 API, extracting a
# source-tree tarball; the peak RSS of each mount process during the 1 GiB copy. Prints
# Markdown tables: the figures, the CPU the mount process and the gateway used in each step,
# and the S3 requests the gateway served for it (`vmgw requests`).
#
# Usage (as root: it drops the page cache and mounts FUSE):
#   bench/scripts/mount-bench.sh [VMGW_BIN] [VMGW_MOUNT_BIN]
# defaults target/release/vmgw and target/release/vmgw-mount. Environment, for smoke runs
# (the goals apply to the defaults): MOUNT_BENCH_CLIENTS="vmgw-mount s3fs rclone",
# MOUNT_BENCH_BIG_MIB=1024, MOUNT_BENCH_TREE="100 100" (dirs, files per dir),
# MOUNT_BENCH_TIMEOUT=600 (seconds per step), MOUNT_BENCH_ROUNDS=1 (more: every timed step
# that many times, the table shows medians), MOUNT_BENCH_KEEP=1 keeps the work directory
# (logs) and prints where it is.
#
# Fairness: every timed step starts on a fresh mount (unmount, `sync`, drop_caches, mount),
# so no client serves from memory what an earlier step left; none of the three keeps a
# persistent cache in the configurations used (vmgw-mount has none, s3fs has none without
# `use_cache`, rclone none with `--vfs-cache-mode off`, its default). Writes are timed until
# the writer's close returned (dd also fsyncs), and right after each write step the objects
# are counted through the S3 API: a client that uploaded after close would fail there.
set -euo pipefail

log() { printf '[mount-bench %(%T)T] %s\n' -1 "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

gw_bin="$(realpath "${1:-target/release/vmgw}")"
mount_bin="$(realpath "${2:-target/release/vmgw-mount}")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
helper="$here/mount_bench.py"
read -r -a clients <<<"${MOUNT_BENCH_CLIENTS:-vmgw-mount s3fs rclone}"
big_mib="${MOUNT_BENCH_BIG_MIB:-1024}"
read -r tree_dirs tree_files <<<"${MOUNT_BENCH_TREE:-100 100}"
step_timeout="${MOUNT_BENCH_TIMEOUT:-600}"
rounds="${MOUNT_BENCH_ROUNDS:-1}"
small_count=1000
small_size=4096
# Crates of Cargo.lock (at its pinned versions) that make the tarball: ~4,400 files of
# mixed sizes (median ~2.5 KiB, largest ~760 KiB), ~36 MiB; no symlinks or empty
# directories, which rclone cannot keep.
tar_crates=(tokio libc ring aws-sdk-s3 aws-sigv4 zerocopy rustix)

# ------------------------------------------------------------------ preconditions
[ "$(id -u)" -eq 0 ] || die "run as root: the page cache is dropped between steps (/proc/sys/vm/drop_caches)"
[ -e /dev/fuse ] || die "/dev/fuse is missing"
[ -x "$gw_bin" ] || die "$gw_bin is missing: cargo build --release -p vmgw-gateway"
[ -x "$mount_bin" ] || die "$mount_bin is missing: cargo build --release -p vmgw-mount"
for tool in s3fs rclone fusermount3 aws tar diff md5sum timeout dd python3; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-test-deps"
done
python3 -c 'import boto3' 2>/dev/null || die "python3 has no boto3: run scripts/install-test-deps"
for c in "${clients[@]}"; do
    case "$c" in vmgw-mount | s3fs | rclone) ;; *) die "unknown client $c" ;; esac
done
# Every client here talks plain http; rclone 1.60 fails on AWS_CA_BUNDLE even then.
unset AWS_CA_BUNDLE

work="$(mktemp -d /tmp/mount-bench.XXXXXX)"
# Sources live in memory so reading them costs the clients nothing measurable.
shm="$(mktemp -d /dev/shm/mount-bench.XXXXXX)"
gw_pid=""
mount_pid=""
mounted_dir=""

is_mounted() { awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$mounted_dir" ] && is_mounted "$mounted_dir"; then
        fusermount3 -u -z "$mounted_dir"
    fi
    [ -n "$mount_pid" ] && kill "$mount_pid" 2>/dev/null
    [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf --one-file-system "$shm"
    if [ "$rc" -ne 0 ] || [ "${MOUNT_BENCH_KEEP:-}" = 1 ]; then
        log "work directory (logs) kept: $work"
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# Seconds between two `now`s.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.3f", n / t }'; }
results="$work/results.tsv"
record() { printf 'value\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }
note() { printf 'note\t-\t%s\t%s\n' "$1" "$2" >>"$results"; }
param() { printf 'param\t-\t%s\t%s\n' "$1" "$2" >>"$results"; }

param big_mib "$big_mib"
param small "$small_count"
param tree_dirs "$tree_dirs"
param tree_files "$tree_files"
param rounds "$rounds"

# ------------------------------------------------------------------ gateway
port="$(free_port)"
endpoint="http://127.0.0.1:$port"
export VMGW_ACCESS_KEY=benchkey VMGW_SECRET_KEY=benchsecret0123456789
export AWS_ACCESS_KEY_ID="$VMGW_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$VMGW_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1
"$gw_bin" serve --listen "127.0.0.1:$port" --data-dir "$work/gw" >"$work/gw.log" 2>&1 &
gw_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
(echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null || die "vmgw did not listen on $port; log: $(tail -5 "$work/gw.log")"
requests_json() { "$gw_bin" requests --json --data-dir "$work/gw" >"$1"; }
s3count() { python3 "$helper" count "$endpoint" "$1" "$2"; }

# ------------------------------------------------------------------ sources
log "generating sources in $shm"
head -c $((big_mib << 20)) /dev/urandom >"$shm/big"
big_md5="$(md5sum <"$shm/big" | cut -d' ' -f1)"
mkdir "$shm/small"
head -c $((small_count * small_size)) /dev/urandom | split -b "$small_size" -a 4 -d - "$shm/small/f"
[ "$(find "$shm/small" -type f | wc -l)" -eq "$small_count" ] || die "split made the wrong number of small files"

registry="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/index.crates.io-* 2>/dev/null | head -1)"
[ -n "$registry" ] || die "no crates.io sources under ${CARGO_HOME:-$HOME/.cargo}/registry/src: run cargo fetch --locked"
mapfile -t crate_dirs < <(python3 "$helper" crate-dirs "$repo/Cargo.lock" "$registry" "${tar_crates[@]}")
[ "${#crate_dirs[@]}" -eq "${#tar_crates[@]}" ] || die "the tarball's crates are not all in $registry"
(cd "$registry" && find "${crate_dirs[@]##*/}" -type f | LC_ALL=C sort) >"$work/tar-list"
# Deterministic: sorted names, fixed owner and mtime.
tar --create --file "$shm/src.tar" --format=gnu --owner=0 --group=0 --numeric-owner \
    --mtime=@1700000000 -C "$registry" --files-from "$work/tar-list"
mkdir "$shm/ref"
tar -xf "$shm/src.tar" -C "$shm/ref"
tar_files="$(wc -l <"$work/tar-list")"
tar_bytes="$(find "$shm/ref" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')"
tar_md5="$(md5sum <"$shm/src.tar" | cut -d' ' -f1)"
note untar "$tar_files files, $((tar_bytes >> 20)) MiB, ${#tar_crates[@]} crates of Cargo.lock; tar md5 ${tar_md5:0:8}"

# ------------------------------------------------------------------ buckets
for c in "${clients[@]}"; do
    bucket="bench-$c"
    aws --endpoint-url "$endpoint" s3api create-bucket --bucket "$bucket" >/dev/null
    log "$bucket: writing $((tree_dirs * tree_files)) objects under tree/ through the S3 API"
    timeout "$step_timeout" python3 "$helper" populate "$endpoint" "$bucket" tree/ "$tree_dirs" "$tree_files"
    n="$(s3count "$bucket" tree/ | cut -d' ' -f1)"
    [ "$n" -eq $((tree_dirs * tree_files)) ] || die "$bucket: tree/ holds $n objects, not $((tree_dirs * tree_files))"
done

# ------------------------------------------------------------------ clients
printf '%s:%s\n' "$VMGW_ACCESS_KEY" "$VMGW_SECRET_KEY" >"$work/passwd-s3fs"
chmod 600 "$work/passwd-s3fs"

# What each client is started with; printed with the results.
describe() {
    case "$1" in
    vmgw-mount) echo "vmgw-mount BUCKET DIR --endpoint $endpoint --foreground (defaults; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)" ;;
    s3fs) echo "s3fs BUCKET DIR -f -o url=$endpoint,use_path_request_style,passwd_file=FILE (defaults otherwise; no use_cache)" ;;
    rclone) echo "rclone mount vmgw:BUCKET DIR (defaults: --vfs-cache-mode off) with remote vmgw: type=s3 provider=Other endpoint=$endpoint from RCLONE_CONFIG_VMGW_* variables" ;;
    esac
}

# Mounts bucket-of-client $1 on $2 in the foreground, as a child whose pid is mount_pid.
mount_client() {
    local c="$1" dir="$2" bucket="bench-$1" logf="$work/$1.log"
    case "$c" in
    vmgw-mount)
        "$mount_bin" "$bucket" "$dir" --endpoint "$endpoint" --foreground >>"$logf" 2>&1 &
        ;;
    s3fs)
        s3fs "$bucket" "$dir" -f -o "url=$endpoint,use_path_request_style,passwd_file=$work/passwd-s3fs" >>"$logf" 2>&1 &
        ;;
    rclone)
        # Nothing of the caller's rclone or AWS configuration may leak in.
        local unset_env=()
        for name in $(compgen -e); do
            case "$name" in AWS_* | RCLONE_*) unset_env+=(-u "$name") ;; esac
        done
        env "${unset_env[@]}" \
            RCLONE_CONFIG="$work/no-rclone.conf" RCLONE_CACHE_DIR="$work/rclone-cache" \
            RCLONE_CONFIG_VMGW_TYPE=s3 RCLONE_CONFIG_VMGW_PROVIDER=Other RCLONE_CONFIG_VMGW_ENV_AUTH=false \
            RCLONE_CONFIG_VMGW_ACCESS_KEY_ID="$VMGW_ACCESS_KEY" \
            RCLONE_CONFIG_VMGW_SECRET_ACCESS_KEY="$VMGW_SECRET_KEY" \
            RCLONE_CONFIG_VMGW_ENDPOINT="$endpoint" \
            rclone mount "vmgw:$bucket" "$dir" --log-file "$logf" &
        ;;
    esac
    mount_pid=$!
    mounted_dir="$dir"
    local i
    for i in $(seq 300); do
        is_mounted "$dir" && return 0
        kill -0 "$mount_pid" 2>/dev/null || die "$c exited before mounting; log: $(tail -5 "$logf")"
        sleep 0.1
    done
    die "$c did not mount $dir within 30 s; log: $(tail -5 "$logf")"
}

unmount_client() {
    local c="$1" dir="$2" i rc=0
    timeout 60 fusermount3 -u "$dir" || die "$c: fusermount3 -u $dir failed (busy?)"
    for i in $(seq 600); do
        kill -0 "$mount_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$mount_pid" 2>/dev/null && die "$c did not exit within 60 s of its unmount"
    wait "$mount_pid" || rc=$?
    [ "$rc" -eq 0 ] || log "warning: $c exited with status $rc after its unmount"
    mount_pid=""
    mounted_dir=""
}

# A fresh mount: nothing cached in the kernel (dentries, attributes, pages) or the client.
fresh_mount() {
    if [ -n "$mounted_dir" ]; then unmount_client "$1" "$2"; fi
    sync
    echo 3 >/proc/sys/vm/drop_caches
    mount_client "$1" "$2"
}

# Peak RSS counts from here: VmHWM is reset to the current RSS.
reset_peak() { echo 5 >"/proc/$mount_pid/clear_refs"; }
peak_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$mount_pid/status"; }
clk_tck="$(getconf CLK_TCK)"
# utime + stime of process $1 (all threads), in seconds.
cpu_secs() { awk -v hz="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }

# Runs a timed step: `timed CLIENT ROW CMD...`; sets `secs`, records the CPU the mount
# process and the gateway used meanwhile, and the requests the gateway served.
timed() {
    local c="$1" row="$2" t0 t1 mount_cpu gw_cpu
    shift 2
    requests_json "$work/req-before.json"
    mount_cpu="$(cpu_secs "$mount_pid")"
    gw_cpu="$(cpu_secs "$gw_pid")"
    t0="$(now)"
    timeout "$step_timeout" "$@" || die "$c/$row: $* failed or timed out (status $?)"
    t1="$(now)"
    secs="$(elapsed "$t0" "$t1")"
    record "$c" "cpu-$row" "$(elapsed "$mount_cpu" "$(cpu_secs "$mount_pid")")"
    record "$c" "gwcpu-$row" "$(elapsed "$gw_cpu" "$(cpu_secs "$gw_pid")")"
    requests_json "$work/req-after.json"
    printf 'requests\t%s\t%s\t%s\n' "$c" "$row" \
        "$(python3 "$helper" requests-delta "$work/req-before.json" "$work/req-after.json")" >>"$results"
}

# The steps of one client; `m` is its mount point. Each timed step starts on a fresh mount.
step_write() {
    local c="$1" m="$work/mnt-$1"
    fresh_mount "$c" "$m"
    reset_peak
    timed "$c" write dd if="$shm/big" of="$m/big" bs=1M conv=fsync status=none
    record "$c" write "$(ratio "$big_mib" "$secs")"
    record "$c" rss-write "$(peak_mib)"
    [ "$(s3count "bench-$c" big)" = "1 $((big_mib << 20))" ] ||
        die "$c: after the write's close, the server does not hold big with $((big_mib << 20)) bytes: $(s3count "bench-$c" big)"
    unmount_client "$c" "$m"
}

step_read() {
    local c="$1" m="$work/mnt-$1"
    fresh_mount "$c" "$m"
    reset_peak
    timed "$c" read dd if="$m/big" of=/dev/null bs=1M status=none
    record "$c" read "$(ratio "$big_mib" "$secs")"
    record "$c" rss-read "$(peak_mib)"
    [ "$(md5sum <"$m/big" | cut -d' ' -f1)" = "$big_md5" ] || die "$c: big read back with another MD5"
    unmount_client "$c" "$m"
}

step_lsr() {
    local c="$1" m="$work/mnt-$1" lines files dirs out="$work/$1-ls-lR.txt"
    fresh_mount "$c" "$m"
    timed "$c" lsr sh -c 'ls -lR "$1" >"$2"' sh "$m/tree" "$out"
    record "$c" lsr "$secs"
    files="$(grep -c '^-' "$out" || true)"
    dirs="$(grep -c '^d' "$out" || true)"
    lines="$(wc -l <"$out")"
    # Per directory: its header, "total", its entries and a blank line before the next.
    [ "$files" -eq $((tree_dirs * tree_files)) ] && [ "$dirs" -eq "$tree_dirs" ] &&
        [ "$lines" -eq $((2 + tree_dirs + tree_dirs * (3 + tree_files))) ] ||
        die "$c: ls -lR showed $files files, $dirs directories, $lines lines"
    unmount_client "$c" "$m"
}

step_create() {
    local c="$1" round="$2" m="$work/mnt-$1"
    fresh_mount "$c" "$m"
    mkdir "$m/small-$round"
    timed "$c" create cp -- "$shm"/small/f* "$m/small-$round/"
    record "$c" create "$(ratio "$small_count" "$secs")"
    [ "$(s3count "bench-$c" "small-$round/")" = "$small_count $((small_count * small_size))" ] ||
        die "$c: after cp returned, the server holds $(s3count "bench-$c" "small-$round/") (objects bytes) under small-$round/"
    unmount_client "$c" "$m"
}

step_untar() {
    local c="$1" round="$2" m="$work/mnt-$1"
    fresh_mount "$c" "$m"
    mkdir "$m/src-$round"
    # --no-same-owner: extract as an unprivileged user would (tar as root would chown).
    timed "$c" untar tar -xf "$shm/src.tar" -C "$m/src-$round" --no-same-owner
    record "$c" untar "$secs"
    [ "$(s3count "bench-$c" "src-$round/")" = "$tar_files $tar_bytes" ] ||
        die "$c: after tar returned, the server holds $(s3count "bench-$c" "src-$round/") (objects bytes) under src-$round/"
    unmount_client "$c" "$m"
}

# What the create and extract steps wrote, read back through a new mount.
step_verify() {
    local c="$1" round="$2" m="$work/mnt-$1"
    fresh_mount "$c" "$m"
    timeout "$step_timeout" diff -r "$shm/small" "$m/small-$round" >/dev/null ||
        die "$c: small-$round/ differs from its source after a remount"
    timeout "$step_timeout" diff -r "$shm/ref" "$m/src-$round" >/dev/null ||
        die "$c: the tree extracted into src-$round/ differs from the tarball after a remount"
    unmount_client "$c" "$m"
}

for c in "${clients[@]}"; do
    mkdir "$work/mnt-$c"
    log "$c: $(describe "$c")"
done
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# Workload by workload, the clients one after another (in another order each round), so a
# burst of load from elsewhere on the machine hits one row of all clients, not all rows of one.
for round in $(seq "$rounds"); do
    order=("${clients[@]:$(((round - 1) % ${#clients[@]}))}" "${clients[@]:0:$(((round - 1) % ${#clients[@]}))}")
    for step in write read lsr create untar verify; do
        for c in "${order[@]}"; do
            log "round $round/$rounds, $c: $step"
            "step_$step" "$c" "$round"
        done
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ report
echo
python3 "$helper" report "$results" \
    "vmgw-mount vs s3fs vs rclone mount on one vmgw ($(nproc) cores, load $load_before before, $load_after after)"
echo
echo "Clients (each on its own bucket of the same gateway, $endpoint):"
for c in "${clients[@]}"; do echo "- $(describe "$c")"; done
echo "- versions: $("$mount_bin" --version), $(s3fs --version 2>&1 | head -1 | cut -d' ' -f1-7), $(rclone version 2>/dev/null | head -1)"
echo
echo "Every timed step ran on a fresh mount after sync + drop_caches; none of the clients keeps a"
echo "persistent cache here, so reads come from the gateway. Sources were in tmpfs; the gateway's"
echo "data directory and the clients' temporary files are on $(df --output=source /tmp | tail -1)."
