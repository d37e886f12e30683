#!/usr/bin/env bash
# A Piper voice (our own tiny test voice, random weights: the audio is
# noise) through the whole pipeline: manifest, batches, cache, assembly.
# Checks lengths, no NaN/Inf in any chunk, and reproducibility by seed.
# Usage: piper.sh NARRATE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
voice=$src/tests/data/voice/tiny/model.onnx
work=$(mktemp -d /tmp/nr_piper_e2e_XXXXXX)
export XDG_CONFIG_HOME=$work/config NARRATE_NVML_LIB=/nonexistent
unset NARRATE_FAKE_GPU
fails=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

cat >"$work/book.md" <<'MD'
# A Short Test

## Chapter One

The lamp was lit at dusk. It burned until the morning came.

A second paragraph, with a comma; and a question?

## Chapter Two

Mr. Hale counted 3.5 miles to the shore. "Enough," he said.
MD

render() { # dir seed batch
  "$bin" render "$work/book.md" -o "$work/$1" --voice "$voice" --seed "$2" --batch-size "$3" \
    --format wav >"$work/$1.log" 2>&1
}
render a 7 3; rc=$?
check "render with the tiny Piper voice exits 0" '[[ $rc -eq 0 ]]'
check "seed line format" 'grep -Eq "\] Batch 1 \(3 chunks\) done in [0-9.]+s \([0-9.]+s/chunk\) \| VRAM: n/a$" "$work/a.log"'
check "book.wav and two chapter files" '[[ -s "$work/a/book.wav" && $(ls "$work/a" | grep -c "^0[12] - .*\.wav$") -eq 2 ]]'
python3 - "$work/a" >"$work/check.txt" <<'PY'
import glob, json, math, os, struct, sys, wave
d = sys.argv[1]
bad = 0
total = 0
for f in glob.glob(os.path.join(d, "cache", "*.pcm")):
    data = open(f, "rb").read()
    rate, fmt, n = struct.unpack_from("<IIQ", data, 8)
    samples = struct.unpack_from(("<%dh" if fmt == 1 else "<%df") % n, data, 32)
    bad += sum(1 for s in samples if not math.isfinite(s))
    total += n
    # Piper audio is a whole number of hops (256 samples for this voice).
    if n == 0 or n % 256:
        bad += 1
m = json.load(open(os.path.join(d, "manifest.json")))
w = wave.open(os.path.join(d, "book.wav"))
book = w.getnframes()
print(f"chunks={len(m['chunks'])} cache_files={len(glob.glob(os.path.join(d, 'cache', '*.pcm')))} "
      f"bad={bad} audio_samples={total} book_samples={book} rate={w.getframerate()}")
PY
cat "$work/check.txt"
check "every chunk finite and a whole number of hops" 'grep -q " bad=0 " "$work/check.txt"'
check "book at the voice's rate, longer than its chunks" \
  'python3 -c "import re,sys; t=open(sys.argv[1]).read(); a=int(re.search(r\"audio_samples=(\d+)\",t)[1]); b=int(re.search(r\"book_samples=(\d+)\",t)[1]); sys.exit(0 if b > a and \"rate=22050\" in t else 1)" "$work/check.txt"'
render b 7 3
check "same seed: byte-identical book" 'cmp -s "$work/a/book.wav" "$work/b/book.wav"'
render c 8 3
check "another seed: different audio" '! cmp -s "$work/a/book.wav" "$work/c/book.wav"'
render a 7 3
check "rerun: nothing to synthesize" 'grep -q "nothing to synthesize" "$work/a.log"'

if [[ $fails -eq 0 ]]; then rm -rf "$work"; echo "e2e_piper: all checks passed"; exit 0; fi
echo "e2e_piper: $fails check(s) failed (work folder kept: $work)"
exit 1
