#!/usr/bin/env bash
# narrate (eSpeak NG voice) against the espeak-ng command line on the same
# text, in the same run. Prints throughput (book characters per wall-clock
# second) of each and the ratio narrate/espeak-ng.
#
# The machines this runs on are noisy (shared cores whose speed changes by a
# third from one second to the next), so every narrate run is paired with an
# espeak-ng run just before it, and the ratio printed is the median of the
# per-pair ratios, not a ratio of medians.
# Usage: bench/espeak.sh [NARRATE_BINARY] [BOOK] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/release/narrate}
book=${2:-$here/examples/the-lighthouse-keepers-clock.md}
repeats=${3:-9}
command -v espeak-ng >/dev/null || { echo "bench: espeak-ng (the CLI) is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/nr_bench_XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config NARRATE_NVML_LIB=/nonexistent
unset NARRATE_FAKE_GPU

# The exact text narrate speaks: its chunks, one paragraph each.
"$bin" chunks "$book" -o "$work/m" >/dev/null
python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write("\n\n".join(c["text"] for c in m["chunks"]) + "\n")
' "$work/m/manifest.json" "$work/text.txt"
chars=$(wc -m <"$work/text.txt")
# The same text cut in two at the paragraph nearest half its characters: two
# espeak-ng processes on two cores are what a perfect 2-core split of the
# peer's own work reaches on this machine (the ceiling for narrate's batches).
python3 -c '
import sys
paras = open(sys.argv[1]).read().rstrip("\n").split("\n\n")
total, acc = sum(map(len, paras)), 0
for cut, p in enumerate(paras, 1):
    acc += len(p)
    if acc >= total / 2:
        break
open(sys.argv[2], "w").write("\n\n".join(paras[:cut]) + "\n")
open(sys.argv[3], "w").write("\n\n".join(paras[cut:]) + "\n")
' "$work/text.txt" "$work/half1.txt" "$work/half2.txt"

now() { date +%s.%N; }
seconds_of() { python3 -c 'import sys,wave; w=wave.open(sys.argv[1]); print(w.getnframes()/w.getframerate())' "$1"; }

run_espeak() {
  local t0 t1
  t0=$(now); espeak-ng -v en-us -s 175 -w "$work/espeak.wav" -f "$work/text.txt"; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
run_espeak_halves() {
  local t0 t1
  t0=$(now)
  espeak-ng -v en-us -s 175 -w "$work/half1.wav" -f "$work/half1.txt" &
  espeak-ng -v en-us -s 175 -w "$work/half2.wav" -f "$work/half2.txt"
  wait
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
run_narrate() { # batch size; prints "whole-job-seconds synthesis-seconds"
  local t0 t1 synth
  rm -rf "$work/n"
  t0=$(now); "$bin" render "$book" -o "$work/n" --format wav --batch-size "$1" >"$work/n.log"; t1=$(now)
  synth=$(sed -n 's/.*chunks synthesized in \([0-9.]*\)s.*/\1/p' "$work/n.log")
  echo "$(echo "$t1 - $t0" | bc -l) $synth"
}

batches=(1 3 8)
: >"$work/rows"
: >"$work/peer"
for i in $(seq 1 "$repeats"); do
  e=$(run_espeak)
  echo "$e $(run_espeak_halves)" >>"$work/peer"
  for b in "${batches[@]}"; do
    e=$(run_espeak)
    read -r whole synth <<<"$(run_narrate "$b")"
    echo "$b $e $synth $whole" >>"$work/rows"
  done
done
audio_e=$(seconds_of "$work/espeak.wav"); audio_n=$(seconds_of "$work/n/book.wav")
printf '\nnarrate vs espeak-ng CLI: %s chars, %s cores, %s pairs per row\n' "$chars" "$(nproc)" "$repeats"
printf 'espeak-ng -w out.wav -f text: median %.2f s (%.0f chars/s), %.1f s of audio; narrate: %.1f s\n' \
  "$(awk '{print $2}' "$work/rows" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
  "$(awk '{print $2}' "$work/rows" | sort -g | awk -v c="$chars" '{a[NR]=$1} END {print c/a[int((NR+1)/2)]}')" \
  "$audio_e" "$audio_n"
python3 - "$work/rows" "$work/peer" "${batches[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
peer = [tuple(map(float, l.split())) for l in open(sys.argv[2])]
print("%-36s %8s %8s %8s %8s" % ("run", "median s", "ratio", "min", "max"))
ratios = [e / h for e, h in peer]
print("%-36s %8.2f %7.2fx %7.2fx %7.2fx" % (
    "espeak-ng, 2 halves on 2 processes", statistics.median(h for e, h in peer),
    statistics.median(ratios), min(ratios), max(ratios)))
for b in sys.argv[3:]:
    r = [(float(e), float(s), float(w)) for bb, e, s, w in rows if bb == b]
    for name, k in (("synthesis", 1), ("whole job", 2)):
        ratios = [x[0] / x[k] for x in r]
        print("%-36s %8.2f %7.2fx %7.2fx %7.2fx" % (
            "%s, --batch-size %s" % (name, b), statistics.median(x[k] for x in r),
            statistics.median(ratios), min(ratios), max(ratios)))
PY
echo "(ratio = narrate throughput / espeak-ng throughput on the same text: the espeak-ng time of"
echo " the run just before divided by narrate's, median over the pairs. 'synthesis' is narrate's"
echo " batch loop, text to cached audio: the job espeak-ng -w does. 'whole job' adds chunking, the"
echo " EBU R128 loudness passes with the limiter and writing the chapter files and book.wav."
echo " '2 halves' is espeak-ng itself on two cores: the text cut in two at a paragraph, two"
echo " espeak-ng -w at once, against one espeak-ng on the whole text just before: the most a"
echo " perfect 2-core split of the peer's work reaches on this machine.)"
