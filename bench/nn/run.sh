#!/bin/sh
# narrate's nn engine against ONNX Runtime (npm onnxruntime-node, CPU) on
# the same models in the same run: our tiny test voice and a Piper-medium-
# sized one (generated here by scripts/make-test-voice.py, not committed),
# 1 thread and all cores, B=1 and B=3 (about 40 phonemes per item).
#
#   bench/nn/run.sh [BUILD_DIR]        (default: build-bench, Release)
#   NARRATE_BENCH_BIN=path/narrate-bench-nn bench/nn/run.sh   (a binary built elsewhere)
#
# Each measurement is a separate process; peak memory is its maximum RSS
# (/usr/bin/time). Times are the median of REPEATS runs after one warm-up
# run. Benchmarks measure; nothing here asserts a time.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-bench}
work=${NARRATE_BENCH_DIR:-${TMPDIR:-/tmp}/narrate-bench-nn}
repeats_tiny=${REPEATS_TINY:-10}
repeats_medium=${REPEATS_MEDIUM:-5}
phonemes=${PHONEMES:-40}
nm=$root/tests/data/voice/node_modules
mkdir -p "$work"

if [ ! -d "$nm/onnxruntime-node" ]; then
    echo "run.sh: ONNX Runtime is missing: (cd tests/data/voice && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci)" >&2
    exit 1
fi
bench=${NARRATE_BENCH_BIN:-$build/bench/nn/narrate-bench-nn}
if [ -z "${NARRATE_BENCH_BIN:-}" ]; then
    [ -f "$build/CMakeCache.txt" ] ||
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$build" --target narrate-bench-nn -j "$(nproc)" >/dev/null
fi
if [ ! -f "$work/medium/model.onnx" ]; then
    echo "generating the medium model in $work/medium ..." >&2
    /usr/bin/python3 "$root/scripts/make-test-voice.py" --config medium --out "$work/medium" >/dev/null 2>&1
fi

cores=$(nproc)
threads_list=1
[ "$cores" -gt 1 ] && threads_list="1 $cores"
results=$work/results.jsonl
load0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$results"

measure() { # label model threads batch repeats
    rss=$work/rss.txt
    out=$(/usr/bin/time -f '%M' -o "$rss" "$bench" "$2" "$3" "$4" "$phonemes" "$5")
    echo "{\"model\":\"$1\",\"rss_kb\":$(cat "$rss"),\"r\":$out}" >>"$results"
    out=$(NODE_PATH=$nm /usr/bin/time -f '%M' -o "$rss" node "$root/bench/nn/ort-bench.js" "$2" "$3" "$4" "$phonemes" "$5")
    echo "{\"model\":\"$1\",\"rss_kb\":$(cat "$rss"),\"r\":$out}" >>"$results"
}

for model in tiny medium; do
    if [ $model = tiny ]; then
        path=$root/tests/data/voice/tiny/model.onnx reps=$repeats_tiny
    else
        path=$work/medium/model.onnx reps=$repeats_medium
    fi
    for t in $threads_list; do
        for b in 1 3; do
            echo "  $model threads=$t B=$b ..." >&2
            measure $model "$path" "$t" "$b" "$reps"
        done
    done
done
base=$(NODE_PATH=$nm /usr/bin/time -f '%M' -o "$work/rss.txt" node "$root/bench/nn/ort-bench.js" --baseline >/dev/null; cat "$work/rss.txt")

echo "load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$results" "$base" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" "$cores" "$phonemes" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base_mb = int(sys.argv[2]) / 1024
print("CPU:%s, %s cores; %s phonemes per item (B=3: %d/%d/%d); times: median / best of the runs" % (
    sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[5]) - 4, int(sys.argv[5]), int(sys.argv[5]) + 4))
print("| model | threads | B | audio s | narrate ms | ORT ms | speed vs ORT | RTF narrate | RTF ORT | peak RSS narrate MB | peak RSS ORT MB | ORT minus node baseline MB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for i in range(0, len(rows), 2):
    n, o = rows[i], rows[i + 1]
    a, b = n["r"], o["r"]
    print("| %s | %d | %d | %.2f | %.0f / %.0f | %.0f / %.0f | %.2fx / %.2fx | %.3f | %.3f | %.1f | %.1f | %.1f |" % (
        n["model"], a["threads"], a["batch"], a["audio_s"], a["median_s"] * 1e3, a["best_s"] * 1e3,
        b["median_s"] * 1e3, b["best_s"] * 1e3, b["median_s"] / a["median_s"], b["best_s"] / a["best_s"],
        a["median_s"] / a["audio_s"], b["median_s"] / b["audio_s"],
        n["rss_kb"] / 1024, o["rss_kb"] / 1024, o["rss_kb"] / 1024 - base_mb))
print("speed vs ORT = ORT time / narrate time (> 1: narrate is faster), from medians / from best runs.")
print("RTF = median run time / audio time. Peak RSS: maximum resident set of each process (/usr/bin/time).")
print("node + onnxruntime-node baseline RSS without a session: %.1f MB" % base_mb)
for r in rows:
    if r["r"]["engine"] == "narrate" and r["r"]["batch"] == 1 and r["r"]["threads"] == 1:
        print("%s: %d nodes in the file, %d after constant folding; weights %.1f MB; peak bytes of a B=1 run %.1f MB" % (
            r["model"], r["r"]["nodes_file"], r["r"]["nodes_run"], r["r"]["weight_bytes"] / 1e6,
            r["r"]["peak_run_bytes"] / 1e6))
PY
