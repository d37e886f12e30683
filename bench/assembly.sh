#!/usr/bin/env bash
# Assembly time (loudness, limiter, chapter files, book file, subtitles) of
# two narrate binaries on the same cached book, run in alternation.
#
# The book is synthesized once (by the first binary) into a work folder;
# every run then deletes only the audio files of the format and renders
# again, so synthesis comes from the cache and what is timed is assembly
# ("Assembled <fmt> in X s" in the log) and the whole process's wall time.
# The machines are noisy: the two binaries alternate run by run and the
# medians are printed, with the per-pair ratio's median. Measures only;
# asserts nothing.
# Usage: bench/assembly.sh OLD_BINARY NEW_BINARY [FORMAT] [REPEATS] [BOOK]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
old=${1:?usage: bench/assembly.sh OLD_BINARY NEW_BINARY [FORMAT] [REPEATS] [BOOK]}
new=${2:?usage: bench/assembly.sh OLD_BINARY NEW_BINARY [FORMAT] [REPEATS] [BOOK]}
fmt=${3:-wav}
repeats=${4:-7}
book=${5:-$here/examples/the-lighthouse-keepers-clock.md}
work=$(mktemp -d /tmp/nr_bench_asm_XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config NARRATE_NVML_LIB=/nonexistent
unset NARRATE_FAKE_GPU

"$old" render "$book" -o "$work/out" --format "$fmt" >/dev/null 2>&1

# One render from the cache; prints "assembly_s wall_s".
one() {
    rm -f "$work/out"/*."$fmt"
    local t0 t1 log
    t0=$(date +%s.%N)
    log=$("$1" render "$book" -o "$work/out" --format "$fmt" 2>&1)
    t1=$(date +%s.%N)
    local asm
    asm=$(printf '%s\n' "$log" | sed -n "s/.*Assembled $fmt in \([0-9.]*\)s.*/\1/p")
    echo "${asm:-nan} $(echo "$t1 - $t0" | bc)"
}

: >"$work/runs"
for i in $(seq "$repeats"); do
    echo "old $(one "$old")" >>"$work/runs"
    echo "new $(one "$new")" >>"$work/runs"
done
python3 - "$work/runs" "$fmt" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
def col(who, k):
    return [float(r[k]) for r in rows if r[0] == who]
print(f"format {sys.argv[2]}, {len(col('old', 1))} runs each")
for k, what in ((1, "assembly (log)"), (2, "whole process")):
    o, n = col("old", k), col("new", k)
    ratios = [a / b for a, b in zip(o, n) if b > 0]
    print(f"{what:15s} old median {st.median(o):.3f} s (min {min(o):.3f}), "
          f"new median {st.median(n):.3f} s (min {min(n):.3f}), "
          f"paired old/new median {st.median(ratios):.2f}x")
PY
