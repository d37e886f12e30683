#!/usr/bin/env bash
# narrate (eSpeak NG voice) against the espeak-ng command line on the same
# text, in the same run. Prints throughput (book characters per wall-clock
# second) of each and the ratio narrate/espeak-ng.
# Usage: bench/espeak.sh [NARRATE_BINARY] [BOOK] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/release/narrate}
book=${2:-$here/examples/the-lighthouse-keepers-clock.md}
repeats=${3:-3}
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

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds_of() { python3 -c 'import sys,wave; w=wave.open(sys.argv[1]); print(w.getnframes()/w.getframerate())' "$1"; }

run_espeak() {
  local t0 t1
  t0=$(now); espeak-ng -v en-us -s 175 -w "$work/espeak.wav" -f "$work/text.txt"; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
run_narrate() { # batch size; prints "whole-job-seconds synthesis-seconds"
  local t0 t1 synth
  rm -rf "$work/n"
  t0=$(now); "$bin" render "$book" -o "$work/n" --format wav --batch-size "$1" >"$work/n.log"; t1=$(now)
  synth=$(sed -n 's/.*chunks synthesized in \([0-9.]*\)s.*/\1/p' "$work/n.log")
  echo "$(echo "$t1 - $t0" | bc -l):$synth"
}

declare -A t
for i in $(seq 1 "$repeats"); do
  t[espeak]+="$(run_espeak) "
  x=$(run_narrate 1); t[b1]+="${x%%:*} "; t[s1]+="${x##*:} "
  x=$(run_narrate 4); t[b4]+="${x%%:*} "; t[s4]+="${x##*:} "
done
med() { tr ' ' '\n' <<<"${t[$1]}" | grep . | median; }
e=$(med espeak); b1=$(med b1); b4=$(med b4); s1=$(med s1); s4=$(med s4)
audio_e=$(seconds_of "$work/espeak.wav"); audio_n=$(seconds_of "$work/n/book.wav")
cores=$(nproc)
printf '\nnarrate vs espeak-ng CLI: %s chars, %s cores, median of %s runs\n' "$chars" "$cores" "$repeats"
printf '%-40s %9s %12s %10s %8s\n' "run" "wall s" "chars/s" "audio s" "ratio"
printf '%-40s %9.2f %12.0f %10.1f %8s\n' "espeak-ng -w out.wav -f text" "$e" "$(echo "$chars/$e" | bc -l)" "$audio_e" "1.00x"
row() { printf '%-40s %9.2f %12.0f %10.1f %7.2fx\n' "$1" "$2" "$(echo "$chars/$2" | bc -l)" "$audio_n" "$(echo "$e/$2" | bc -l)"; }
row "narrate synthesis, --batch-size 1" "$s1"
row "narrate synthesis, --batch-size 4" "$s4"
row "narrate whole job, --batch-size 1" "$b1"
row "narrate whole job, --batch-size 4" "$b4"
echo "(ratio = narrate throughput / espeak-ng throughput on the same text. 'synthesis' is narrate's"
echo " batch loop: text to cached audio, the job espeak-ng -w does. 'whole job' adds chunking, the"
echo " two-pass EBU R128 loudness + limiter and writing the chapter files and book.wav.)"
