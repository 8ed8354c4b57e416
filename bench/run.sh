#!/usr/bin/env bash
# Side-by-side benchmark (issue 5): Conclave's relay, Janus VideoRoom and the
# ceiling forwarder (plain and AES-GCM), one after the other under identical
# conditions, driven by the same load generator. See docs/benchmarks.md.
#
#   sudo bench/run.sh                 # full sweep N = 1 10 25 50 100 150
#   bench/run.sh --quick              # N = 1 10, 5 s windows
#   bench/run.sh --subs "25 100" --duration 15 --systems "conclave janus"
#   bench/run.sh --pace 2.5           # the publisher paces video like Chrome
#   BASELINE_BIN=/tmp/conclave-old bench/run.sh --systems "baseline conclave"
#                                     # a change against an older build, in one run
#   bench/run.sh --systems "conclave conclave-nocc"
#                                     # congestion control on (default) and off
#   BENCH_BIN_DIR=DIR bench/run.sh --no-build   # binaries built elsewhere
#   bench/run.sh --scenario meeting --subs "10 25"
#                                     # N participants, all publishing simulcast, N x (N-1)
#   bench/run.sh --scenario webinar --subs 100 [--layers 3] [--widths 320,640,0]
#                                     # 1 simulcast publisher, viewers on mixed layers
#                                     # (scenarios run conclave, conclave-nocc, baseline;
#                                     # Janus and the ceiling only the default fanout)
#
# Everything runs inside a network namespace made here (libnice, Janus's ICE,
# ignores loopback interfaces, so peers use 127.0.1.1 on a veth), pinned: the
# system under test on core $RELAY_CPU, the load generator on core $LOAD_CPU.
# No traffic leaves the namespace; it is deleted on exit. Needs root.
# Results: bench/results/<date>.{md,csv,jsonl}.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS=${SUBS:-"1 10 25 50 100 150"}
DURATION=${DURATION:-12}
WARMUP=${WARMUP:-3}
systems_given=0; [ -z "${SYSTEMS:-}" ] || systems_given=1
SYSTEMS=${SYSTEMS:-"conclave janus ceiling ceiling-gcm"}
RELAY_CPU=${RELAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
NS=${NS:-sfubench}
IP=127.0.1.1
BUILD=1
OUT=${OUT:-bench/results}
PACE=${PACE:-}
SCENARIO=${SCENARIO:-fanout}
LAYERS=${LAYERS:-}
WIDTHS=${WIDTHS:-}

while [ $# -gt 0 ]; do
  case $1 in
    --quick) SUBS="1 10"; DURATION=5; WARMUP=2 ;;
    --subs) SUBS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --systems) SYSTEMS=$2; systems_given=1; shift ;;
    --scenario) SCENARIO=$2; shift ;;
    --layers) LAYERS=$2; shift ;;
    --widths) WIDTHS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --pace) PACE=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case $SCENARIO in
  fanout) ;;
  meeting|webinar)
    # Only Conclave builds run these: the ceiling forwards one publisher's
    # single stream, and the load generator does not drive Janus with
    # simulcast (docs/benchmarks.md, "Scenarios").
    [ "$systems_given" = 1 ] || SYSTEMS="conclave conclave-nocc"
    kept=""
    for sys in $SYSTEMS; do
      case $sys in
        conclave|conclave-nocc|baseline) kept="$kept $sys" ;;
        *) echo "== skipping $sys: the $SCENARIO scenario runs against Conclave builds only" >&2 ;;
      esac
    done
    SYSTEMS=${kept# }
    [ -n "$SYSTEMS" ] || { echo "no system left to run the $SCENARIO scenario (use conclave, conclave-nocc, baseline)" >&2; exit 2; } ;;
  *) echo "unknown scenario $SCENARIO (fanout, meeting, webinar)" >&2; exit 2 ;;
esac
[ -z "$PACE" ] || [ "$SCENARIO" = fanout ] || { echo "--pace applies to the fanout scenario only" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (ip netns)" >&2; exit 1; }
if [[ " $SYSTEMS " == *" janus "* ]] && ! command -v janus >/dev/null; then
  echo "== installing Janus (Debian package janus)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus >/dev/null
fi
if [[ " $SYSTEMS " == *" baseline "* ]] && [ ! -x "${BASELINE_BIN:-}" ]; then
  echo "the baseline system needs BASELINE_BIN=<a conclave binary built from the commit to compare with>" >&2; exit 2
fi
for t in ip taskset curl; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done

if [ "$BUILD" = 1 ]; then
  echo "== building (release)"
  cargo build --release --locked -p conclave -p conclave-load
fi
BIN=${BENCH_BIN_DIR:-target/release}
[ -x "$BIN/conclave" ] || { echo "no $BIN/conclave; build first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/conclave-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if [ -n "$(ip netns pids "$NS" 2>/dev/null)" ]; then
  echo "another benchmark is running in network namespace $NS (processes $(ip netns pids "$NS" | tr '\n' ' ')); wait for it, or run this one with NS=<other name>" >&2
  trap - EXIT INT TERM; rm -rf "$tmp"; exit 1
fi
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
# (programs started in the background use "ip netns exec" directly: it execs,
# so $! is the program itself, whose CPU and RSS we read)
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns ip link add v0 type veth peer name v1
in_ns ip addr add $IP/32 dev v0
in_ns ip link set v0 up
in_ns ip link set v1 up

stamp=$(date +%Y-%m-%d-%H%M)
[ "$SCENARIO" = fanout ] || stamp="$stamp-$SCENARIO"
mkdir -p "$OUT"
jsonl="$OUT/$stamp.jsonl"
: > "$jsonl"

# Waits for "open: <url>" in a log; prints the URL.
wait_open() { # log pid
  for _ in $(seq 1 300); do
    if url=$(grep -o 'open:[[:space:]]*[a-z]*://[^ ]*' "$1" | head -1 | grep -o '[a-z]*://.*') && [ -n "$url" ]; then
      echo "$url"; return 0
    fi
    kill -0 "$2" 2>/dev/null || { echo "process died:" >&2; tail -20 "$1" >&2; return 1; }
    sleep 0.1
  done
  echo "no 'open:' line in $1" >&2; tail -20 "$1" >&2; return 1
}

# Starts system $1 on core $RELAY_CPU; sets PID and URL and TARGET.
start() {
  local log="$tmp/$1.log"
  case $1 in
    conclave|conclave-nocc|baseline)
      local bin="$BIN/conclave"; [ "$1" = baseline ] && bin=$BASELINE_BIN
      local extra=(); [ "$1" = conclave-nocc ] && extra=(--congestion-control false)
      ip netns exec "$NS" taskset -c "$RELAY_CPU" "$bin" serve --listen $IP:0 --max-participants 1000 "${extra[@]}" >"$log" 2>&1 &
      PID=$!; pids+=("$PID"); TARGET=conclave
      URL=$(wait_open "$log" "$PID") ;;
    janus)
      bash bench/janus-config.sh "$tmp/janus" $IP 8088
      ip netns exec "$NS" taskset -c "$RELAY_CPU" janus -F "$tmp/janus" -C "$tmp/janus/janus.jcfg" >"$log" 2>&1 &
      PID=$!; pids+=("$PID"); TARGET=janus; URL="http://$IP:8088/janus"
      for _ in $(seq 1 100); do
        in_ns curl -sf "$URL/info" >/dev/null && break
        kill -0 "$PID" 2>/dev/null || { tail -20 "$log" >&2; return 1; }
        sleep 0.1
      done ;;
    ceiling|ceiling-gcm)
      local flags=(--gso); [ "$1" = ceiling-gcm ] && flags+=(--gcm)
      ip netns exec "$NS" taskset -c "$RELAY_CPU" "$BIN/ceiling" --listen $IP:0 "${flags[@]}" >"$log" 2>&1 &
      PID=$!; pids+=("$PID")
      TARGET=udp; [ "$1" = ceiling-gcm ] && TARGET=udp-gcm
      URL=$(wait_open "$log" "$PID") ;;
    *) echo "unknown system $1" >&2; return 1 ;;
  esac
}

stop() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}

echo "== $SCENARIO sweep N = $SUBS; systems: $SYSTEMS; ${WARMUP}s warm-up + ${DURATION}s window; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $SUBS; do
  for sys in $SYSTEMS; do
    start "$sys"
    if ! ip netns exec "$NS" taskset -c "$LOAD_CPU" "$BIN/conclave-load" run --target "$TARGET" --url "$URL" \
        --relay-pid "$PID" --subs "$n" --duration "$DURATION" --warmup "$WARMUP" --bind $IP \
        --label "$sys" --json-out "$jsonl" ${PACE:+--pace "$PACE"} --scenario "$SCENARIO" \
        ${LAYERS:+--layers "$LAYERS"} ${WIDTHS:+--widths "$WIDTHS"} 2>"$tmp/load.err" | grep -v '^RESULT '; then
      echo "!! $sys N=$n failed:" >&2; tail -5 "$tmp/load.err" >&2
    fi
    grep -v '^$' "$tmp/load.err" | tail -3 | sed 's/^/   (loadgen) /' || true
    stop
    sleep 1
  done
done

{
  echo "# Benchmark $stamp"
  echo
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r)"
  echo "- Janus: $(dpkg-query -W -f='${Version}' janus 2>/dev/null || echo 'not installed')"
  case $SCENARIO in
    fanout) echo "- load: 1 publisher, VP8-shaped 1.5 Mbit/s at 30 fps (key frame every 2 s) + Opus 50 packets/s; N receive-only subscribers${PACE:+; video paced at ${PACE}× its bitrate, like a browser}" ;;
    meeting) echo "- load (scenario meeting): N participants, each publishing Opus 50 packets/s + VP8-shaped video in ${LAYERS:-3} simulcast layers (of 320/640/1280 wide at 150k/500k/1.5M bit/s, 30 fps, key frame every 2 s) and receiving all others, asking for width ${WIDTHS:-640} (0 = no limit)" ;;
    webinar) echo "- load (scenario webinar): 1 publisher of Opus 50 packets/s + VP8-shaped video in ${LAYERS:-3} simulcast layers (of 320/640/1280 wide at 150k/500k/1.5M bit/s, 30 fps, key frame every 2 s); N receive-only viewers asking for widths ${WIDTHS:-320,640,0} in turn (0 = no limit)" ;;
  esac
  echo "- ${WARMUP} s warm-up, ${DURATION} s window per point; system under test on core $RELAY_CPU, load generator on core $LOAD_CPU, netns $NS at $IP"
  echo "- loadavg at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  "$BIN/conclave-load" report --jsonl "$jsonl" --csv "$OUT/$stamp.csv"
} > "$OUT/$stamp.md"
cat "$OUT/$stamp.md"
echo
echo "== wrote $OUT/$stamp.md, $OUT/$stamp.csv, $jsonl"
