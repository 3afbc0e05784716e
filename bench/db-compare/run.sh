#!/usr/bin/env bash
# Side-by-side benchmark of Swift's container server (Debian's swift 2.30.1)
# and swirl's, in one run on this machine:
#   1. row updates/s: N object-row PUTs (as object servers send them) at
#      concurrency CONC into an empty container;
#   2. listing latency: a 10,000-row page of a ROWS-row container at the
#      start, middle and end (by marker), without and with delimiter=/;
#   3. peak memory (VmHWM) of each server afterwards.
# The big container is filled through each server's own REPLICATE merge_items
# (names "dddd/nnnnnn": 100 objects per "directory").
#
# usage: bench/db-compare/run.sh      env: ROWS=1000000 UPDATES=20000 CONC=16 REPS=5 SWIFT_WORKERS=0 (one process, as SAIO's workers = 1)
#        SWIRL_BIN=path, LOADGEN_BIN=path (skip the release build of swirl / db-loadgen)
# The load client is the bench crate's db-loadgen (bench/src/db_backend.rs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROWS=${ROWS:-1000000}
UPDATES=${UPDATES:-20000}
CONC=${CONC:-16}
REPS=${REPS:-5}
SWIFT_WORKERS=${SWIFT_WORKERS:-0}
TMP=$(mktemp -d /tmp/db-compare.XXXXXX)
PIDS=()
cleanup() {
  rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    echo "failed (exit $rc); logs:" >&2
    tail -n 20 "$TMP"/*.log >&2 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "${SWIRL_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -p swirl -p swirl-bench --bin swirl --bin db-loadgen >&2)
fi
SWIRL=${SWIRL_BIN:-$ROOT/target/release/swirl}
BENCH=${LOADGEN_BIN:-$ROOT/target/release/db-loadgen}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$TMP/swift-devs/sda" "$TMP/swirl-devs/sda"
SUFFIX=db-compare
printf '[swift-hash]\nswift_hash_path_prefix =\nswift_hash_path_suffix = %s\n\n[storage-policy:0]\nname = gold\ndefault = yes\n' "$SUFFIX" > "$TMP/swift.conf"
SWIFT_PORT=$(free_port)
cat > "$TMP/container-server.conf" <<CONF
[DEFAULT]
devices = $TMP/swift-devs
mount_check = false
bind_ip = 127.0.0.1
bind_port = $SWIFT_PORT
workers = $SWIFT_WORKERS
log_level = ERROR

[pipeline:main]
pipeline = healthcheck container-server

[app:container-server]
use = egg:swift#container

[filter:healthcheck]
use = egg:swift#healthcheck
CONF
cat > "$TMP/swirl.toml" <<CONF
devices = "$TMP/swirl-devs"
mount_check = false
bind_ip = "127.0.0.1"
bind_port = 0
swift_hash_path_suffix = "$SUFFIX"
log_requests = false
CONF

/usr/bin/python3 "$ROOT/tests/py/swift_launch.py" "$TMP/swift.conf" /usr/bin/swift-container-server "$TMP/container-server.conf" >"$TMP/swift.log" 2>&1 &
PIDS+=($!); SWIFT_PID=$!
"$SWIRL" container-server "$TMP/swirl.toml" >"$TMP/swirl.out" 2>"$TMP/swirl.log" &
PIDS+=($!); SWIRL_PID=$!
for _ in $(seq 1 300); do
  grep -q READY "$TMP/swirl.out" 2>/dev/null && curl -sf "http://127.0.0.1:$SWIFT_PORT/healthcheck" >/dev/null && break
  sleep 0.1
done
SWIRL_ADDR=$(awk '/READY/ {print $3}' "$TMP/swirl.out")
SWIFT_ADDR=127.0.0.1:$SWIFT_PORT
[ -n "$SWIRL_ADDR" ] || { echo "swirl did not start" >&2; exit 1; }
echo "swift container-server $SWIFT_ADDR (workers=$SWIFT_WORKERS), swirl container-server $SWIRL_ADDR" >&2

# "Directories" of 100 rows: the middle one, and the one 100 before the last
# (5000/ and 9900/ for a million rows).
MID_DIR=$(printf '%04d' $((ROWS / 200)))
END_DIR=$(printf '%04d' $((ROWS / 100 > 100 ? ROWS / 100 - 100 : 0)))
declare -A RES
for who in swift swirl; do
  addr=$([ $who = swift ] && echo "$SWIFT_ADDR" || echo "$SWIRL_ADDR")
  curl -sf -X PUT -H 'X-Timestamp: 1690000000.00000' "http://$addr/sda/0/acct/big" >/dev/null
  db=$(find "$TMP/$who-devs" -name '*.db' | head -1)
  hash=$(basename "$db" .db)
  curl -sf -X PUT -H 'X-Timestamp: 1690000000.00000' "http://$addr/sda/0/acct/upd" >/dev/null
  echo "[$who] populating $ROWS rows ..." >&2
  RES[$who-populate]=$("$BENCH" populate "$addr" "/sda/0/$hash" "$ROWS" 10000)
  echo "[$who] ${RES[$who-populate]}" >&2
  RES[$who-updates]=$("$BENCH" updates "$addr" /sda/0/acct/upd "$UPDATES" "$CONC")
  echo "[$who] updates: ${RES[$who-updates]}" >&2
  for pos in start middle end; do
    case $pos in start) m="";; middle) m="&marker=$MID_DIR/";; end) m="&marker=$END_DIR/";; esac
    for d in "" "&delimiter=/"; do
      key="$who-list-$pos$d"
      RES[$key]=$("$BENCH" list "$addr" "/sda/0/acct/big?limit=10000$m$d" "$REPS")
      echo "[$who] list $pos$d: ${RES[$key]}" >&2
    done
  done
done

hwm() { # peak RSS (KiB) of a process and its children
  local total=0
  for p in "$1" $(pgrep -P "$1" || true); do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
first() { echo "$1" | awk '{print $1}'; }

{
  echo "| measurement | Swift 2.30.1 | swirl | swirl vs Swift |"
  echo "|---|---|---|---|"
  su=$(first "${RES[swift-updates]}"); wu=$(first "${RES[swirl-updates]}")
  echo "| row updates/s, $UPDATES PUTs at concurrency $CONC | $su | $wu | $(ratio "$wu" "$su")x faster |"
  for pos in start middle end; do
    for d in "" "&delimiter=/"; do
      s=$(first "${RES[swift-list-$pos$d]}"); w=$(first "${RES[swirl-list-$pos$d]}")
      rows=$(echo "${RES[swirl-list-$pos$d]}" | sed 's/.*(\([0-9]*\) rows.*/\1/')
      echo "| list limit=10000 at $pos${d:+ delimiter=/} ($rows entries), median ms | $s | $w | $(ratio "$s" "$w")x faster |"
    done
  done
  echo "| peak RSS after all phases, MiB | $(( $(hwm "$SWIFT_PID") / 1024 )) | $(( $(hwm "$SWIRL_PID") / 1024 )) | |"
  echo "| fill $ROWS rows via REPLICATE merge_items | ${RES[swift-populate]} | ${RES[swirl-populate]} | |"
} | tee "$HERE/last-results.md"
