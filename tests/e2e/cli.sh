#!/usr/bin/env bash
# End-to-end checks of the narrate command with the real eSpeak NG voice:
# the sample book, kill -9 and resume (byte-identical book.wav), Ctrl-C,
# and every bad input of issue 2 (one line, non-zero exit, nothing
# half-written). Usage: cli.sh NARRATE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
work=$(mktemp -d /tmp/nr_e2e_XXXXXX)
export XDG_CONFIG_HOME=$work/config
export NARRATE_NVML_LIB=/nonexistent/libnvidia-ml.so.1
unset NARRATE_FAKE_GPU
fails=0
book=$src/examples/the-lighthouse-keepers-clock.md
epub=$src/examples/the-lighthouse-keepers-clock.epub

ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# expect_error NAME EXIT_CODE NEEDLE -- narrate args...
# The error is one line on stderr containing NEEDLE; the exit code matches.
expect_error() {
  local name=$1 code=$2 needle=$3
  shift 4
  local err rc
  err=$("$bin" "$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -ne $code ]]; then bad "$name: exit $rc, wanted $code ($err)"; return; fi
  if [[ $(printf '%s\n' "$err" | wc -l) -ne 1 ]]; then bad "$name: not one line: $err"; return; fi
  if [[ "$err" != *"$needle"* ]]; then bad "$name: '$needle' not in: $err"; return; fi
  ok "$name ($err)"
}

# interrupt_when TEXT LOG -- ARGS...: runs narrate ARGS in the background
# (stdout to LOG.log, stderr to LOG.err), sends SIGINT once TEXT is in its
# output (or after 20 s) and leaves the exit status in $rc.
interrupt_when() {
  local text=$1 log=$2 pid
  shift 3
  "$bin" "$@" >"$log.log" 2>"$log.err" &
  pid=$!
  for _ in $(seq 400); do
    grep -q "$text" "$log.log" 2>/dev/null && break
    sleep 0.05
  done
  kill -INT $pid
  wait $pid
  rc=$?
}

# --- help, version, settings ------------------------------------------------------------
check "help lists commands and exit codes" \
  '"$bin" --help | grep -q "render BOOK" && "$bin" --help | grep -q "130  interrupted"'
check "version" '"$bin" --version | grep -q "^narrate [0-9]"'
expect_error "unknown command" 2 'unknown command "frobnicate"' -- frobnicate

# --- the sample book, uninterrupted ---------------------------------------------------------
out_a=$work/a
"$bin" render "$book" -o "$out_a" --format wav >"$work/a.log" 2>&1
rc=$?
check "sample render exits 0" '[[ $rc -eq 0 ]]'
check "batch lines in the seed's format" \
  'grep -Eq "^\[[0-9]{2}:[0-9]{2}:[0-9]{2}\] Batch 1 \(3 chunks\) done in [0-9]+\.[0-9]{2}s \([0-9]+\.[0-9]{2}s/chunk\) \| VRAM: n/a$" "$work/a.log"'
check "no-GPU start-up report" 'grep -q "^GPU: none detected (rendering on CPU)$" "$work/a.log"'
check "activity.log has the batch lines" 'grep -q "Batch 1 (3 chunks) done" "$out_a/activity.log"'
check "telemetry.jsonl has a record per batch" \
  '[[ $(grep -c "\"type\":\"batch\"" "$out_a/telemetry.jsonl") -eq $(grep -c "] Batch " "$out_a/activity.log") ]]'
check "three chapter files and book.wav" \
  '[[ $(ls "$out_a" | grep -c "^0[1-3] - .*\.wav$") -eq 3 && -s "$out_a/book.wav" ]]'
check "the output says where the audio is" 'grep -q "Audio is in $out_a" "$work/a.log"'
"$bin" render "$book" -o "$out_a" --format wav >"$work/a2.log" 2>&1
check "a finished render synthesizes nothing and says so" \
  'grep -q "already cached: nothing to synthesize" "$work/a2.log" && ! grep -q "] Batch " "$work/a2.log"'
check "rerun gives the same book.wav" 'true'

# --- kill -9 in the middle, then the same command: only missing chunks ---------------------
out_b=$work/b
"$bin" render "$book" -o "$out_b" --format wav --batch-size 1 >"$work/b1.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  n=$(ls "$out_b/cache" 2>/dev/null | grep -c '\.pcm$')
  [[ $n -ge 8 ]] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
cached=$(ls "$out_b/cache" | grep -c '\.pcm$')
total=$(grep -c '"id"' "$out_b/manifest.json")
check "killed mid-render with some chunks cached ($cached of $total)" '[[ $cached -ge 1 && $cached -lt $total ]]'
check "no temp files left by the kill in the output folder" '! ls "$out_b" | grep -q "\.tmp\."'
# A kill -9 can land while a cache file is being written: plant such a file
# (and one that only looks similar) and check the resume removes the first.
printf 'partial' >"$out_b/cache/0123456789abcdef.pcm.tmp.Ab3xYz"
printf 'mine' >"$out_b/notes.tmp.txt"
"$bin" render "$book" -o "$out_b" --format wav --batch-size 1 >"$work/b2.log" 2>&1
check "resume removes temp files a kill left, and says so" \
  '! find "$out_b" -name "*.tmp.??????" | grep -q . && grep -q "Removed [0-9]* unfinished temp file" "$work/b2.log"'
check "resume keeps files that only look like temp files" '[[ -f "$out_b/notes.tmp.txt" ]]'
rm -f "$out_b/notes.tmp.txt"
check "resume synthesizes only the missing chunks" \
  'grep -q "Rendering $((total - cached)) of $total chunks ($cached cached)" "$work/b2.log"'
check "resumed book.wav is byte-identical to the uninterrupted one" 'cmp -s "$out_a/book.wav" "$out_b/book.wav"'
for f in "$out_a"/0*.wav; do
  check "chapter $(basename "$f") byte-identical" 'cmp -s "$f" "$out_b/$(basename "$f")"'
done

# --- Ctrl-C: finish the batch, exit 130, say how to resume ----------------------------------
out_c=$work/c
interrupt_when "Batch 1 " "$work/c" -- render "$book" -o "$out_c" --format wav
check "SIGINT exits 130" '[[ $rc -eq 130 ]]'
check "SIGINT says how to resume" 'grep -q "Run the same command again to resume" "$work/c.err"'

# --- Ctrl-C during assembly: exit 130, no output, the same command assembles ---------------
out_s=$work/s
mkdir -p "$out_s"
cp -r "$out_a/cache" "$out_a/manifest.json" "$out_s/"
interrupt_when "Loudness: measured" "$work/s" -- render "$book" -o "$out_s" --format m4b
check "SIGINT during assembly exits 130 ($rc)" '[[ $rc -eq 130 ]] && grep -q "Run the same command again to resume" "$work/s.err"'
check "SIGINT during assembly leaves no output and no temp file" \
  '! ls "$out_s" | grep -q "\.m4b\|\.srt\|\.vtt" && ! find "$out_s" -name "*.tmp.*" | grep -q .'
"$bin" render "$book" -o "$out_s" --format m4b >"$work/s2.log" 2>&1
check "the same command then assembles from the cache" \
  '[[ -s "$out_s/book.m4b" ]] && grep -q "already cached: nothing to synthesize" "$work/s2.log"'

# --- one render per output folder ----------------------------------------------------------
# Another process holds the folder's lock (the same fcntl record lock a render
# takes), so the check does not race a render that might finish first.
out_l=$work/l
mkdir -p "$out_l"
python3 - "$out_l/.narrate.lock" "$work/lock-held" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(120)
PY
lockpid=$!
for _ in $(seq 200); do [[ -e "$work/lock-held" ]] && break; sleep 0.05; done
expect_error "a second render into the same folder is refused" 1 "another narrate is rendering" \
  -- render "$book" -o "$out_l" --format wav
kill $lockpid 2>/dev/null
wait $lockpid 2>/dev/null
"$bin" render "$book" -o "$out_l" --format wav >"$work/l.log" 2>&1
check "the folder renders once the lock is free" '[[ -s "$out_l/book.wav" ]]'

# --- edited manifest: only that chunk again -------------------------------------------------
python3 - "$out_a/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["chunks"][2]["text"] = "This sentence was edited by the reader."
del m["chunks"][2]["hash"]
json.dump(m, open(p, "w"), indent=1)
PY
"$bin" render --manifest "$out_a/manifest.json" --format wav >"$work/m.log" 2>&1
check "edited manifest: exactly one chunk synthesized" \
  'grep -q "Rendering 1 of $total chunks" "$work/m.log" && grep -q "Batch 1 (1 chunks)" "$work/m.log"'

# --- bad input: one line, non-zero exit, nothing half-written --------------------------------
mkdir -p "$work/in"
: >"$work/in/empty.txt"
head -c 3000 /dev/urandom >"$work/in/garbage.txt"
printf 'Fine text \xff\xfe and broken.\n' >"$work/in/invalid.txt"
expect_error "missing book" 1 "nope.txt" -- render "$work/in/nope.txt" -o "$work/x1"
expect_error "empty book" 1 "empty.txt" -- render "$work/in/empty.txt" -o "$work/x2"
expect_error "a directory" 1 "is a directory" -- render "$work/in" -o "$work/x3"
expect_error "binary garbage" 1 "garbage.txt" -- render "$work/in/garbage.txt" -o "$work/x4"
expect_error "invalid UTF-8 names the offset" 1 "byte 10" -- render "$work/in/invalid.txt" -o "$work/x5"
expect_error "zip that is not an EPUB" 1 "not-epub.epub" -- render "$src/tests/data/text/not-epub.epub" -o "$work/x6"
expect_error "spine names a missing file" 1 "missing-spine.epub" -- render "$src/tests/data/text/missing-spine.epub" -o "$work/x7"
for d in x1 x2 x3 x4 x5 x6 x7; do
  check "nothing written for a bad book ($d)" '[[ ! -e "$work/$d/manifest.json" && -z "$(ls "$work/$d/cache" 2>/dev/null)" ]]'
done
sed 's/"version":\t1/"version":\t99/' "$out_a/manifest.json" >"$work/in/v99.json"
expect_error "manifest of unknown version" 1 "version" -- render --manifest "$work/in/v99.json"
python3 - "$out_a/manifest.json" "$work/in/badhash.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["chunks"][5]["text"] += " Tampered."
json.dump(m, open(sys.argv[2], "w"), indent=1)
PY
expect_error "chunk whose hash does not match" 1 "hash" -- render --manifest "$work/in/badhash.json"
: >"$work/in/afile"
expect_error "unwritable output folder" 1 "not a folder" -- render "$book" -o "$work/in/afile/out"
expect_error "bad voice" 2 "espeak:xx-nope" -- render "$book" -o "$work/x8" --voice espeak:xx-nope
expect_error "bad batch size" 2 '"batch_size"' -- render "$book" -o "$work/x9" --batch-size -1
mkdir -p "$XDG_CONFIG_HOME/narrate"
echo '{"batch_size": 3, "colour": "red"}' >"$work/bad-settings.json"
expect_error "unknown key in settings.json" 2 'unknown setting "colour"' -- render "$book" -o "$work/x10" --settings "$work/bad-settings.json"

# --- a write error in the middle of a render ------------------------------------------------
out_w=$work/w
cp -r "$out_b" "$out_w"
rm -f "$out_w"/cache/*.pcm "$out_w"/*.wav
err=$(NARRATE_FAIL_WRITE=6 "$bin" render "$book" -o "$out_w" --format wav 2>&1 >/dev/null)
rc=$?
check "injected write error: non-zero exit ($rc) and one line naming the file" \
  '[[ $rc -eq 1 && $(printf "%s\n" "$err" | wc -l) -eq 1 && "$err" == *"injected write error"* && "$err" == *"$out_w"* ]]'
check "no temp files after the write error" '! find "$out_w" -name "*.tmp.*" | grep -q .'
check "no book.wav after the write error" '[[ ! -e "$out_w/book.wav" ]]'
kept=$(ls "$out_w/cache" | grep -c '\.pcm$')
"$bin" render "$book" -o "$out_w" --format wav >"$work/w2.log" 2>&1
check "cache kept across the write error ($kept chunks) and reused" \
  'grep -q "($kept cached)" "$work/w2.log" && cmp -s "$out_a/book.wav" "$out_w/book.wav" || cmp -s "$out_b/book.wav" "$out_w/book.wav"'

# --- chunks and voices --------------------------------------------------------------------------
"$bin" chunks "$epub" -o "$work/ch" >/dev/null 2>&1
check "chunks writes a manifest only" '[[ -s "$work/ch/manifest.json" && ! -e "$work/ch/book.wav" ]]'
check "voices lists en-us" '"$bin" voices | grep -q "espeak:en-us"'
check "gpu without a GPU" '"$bin" gpu | grep -q "^GPU: none detected (rendering on CPU)$"'

echo "$((fails == 0 ? 1 : 0)) passed, $fails failed" >/dev/null
if [[ $fails -eq 0 ]]; then rm -rf "$work"; echo "e2e_cli: all checks passed"; exit 0; fi
echo "e2e_cli: $fails check(s) failed (work folder kept: $work)"
exit 1
