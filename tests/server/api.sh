#!/usr/bin/env bash
# API test of `narrate serve` with curl: every endpoint and every refusal
# (no token -> 403, bad Host -> 403, cookie without header on a state
# change -> 403, path escape -> 400, oversize -> 413, second Start -> 409).
# Runs the real server on a free loopback port with a scripted GPU whose
# trace crosses 95 % at batch 4, in a temporary workspace and
# XDG_CONFIG_HOME; the server is stopped with SIGTERM at the end.
# Usage: NARRATE_BIN=build/narrate tests/server/api.sh
set -u
bin="${NARRATE_BIN:-${NARRATE_BINARY_DIR:-build}/narrate}"
src="${NARRATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
if ! command -v curl >/dev/null; then
  echo "SKIP: curl is not installed"
  exit 77
fi

tmp=$(mktemp -d)
root="$tmp/workspace"
mkdir -p "$root" "$tmp/config" "$tmp/outside"
cp "$src/examples/the-lighthouse-keepers-clock.md" "$root/book.md"
echo "# Secret" > "$tmp/outside/secret.md"
ln -s "$tmp/outside" "$root/link-out"             # a folder link leading out
ln -s "$tmp/outside/secret.md" "$root/secret.md"  # a file link leading out
cat > "$tmp/trace.json" <<'EOF'
{"name": "Fake GPU (API test)", "total_gb": 12.0, "free_gb": 7.1,
 "used_gb": [7.2, 7.6, 9.9, 11.6, 8.4, 8.5]}
EOF
settings="$tmp/config/narrate/settings.json"

fails=0
pid=""
sse=""
cleanup() {
  [[ -n "$sse" ]] && kill "$sse" 2>/dev/null
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# expect WHAT WANT GOT
expect() { if [[ "$3" == "$2" ]]; then ok "$1 -> $2"; else bad "$1: want $2, got $3"; fi; }
# contains WHAT NEEDLE HAYSTACK
contains() { if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1: \"$2\" not in: ${3:0:400}"; fi; }

XDG_CONFIG_HOME="$tmp/config" NARRATE_FAKE_GPU="$tmp/trace.json" \
  "$bin" serve --port 0 --root "$root" > "$tmp/server.out" 2>&1 &
pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/?token=[0-9a-f]*' "$tmp/server.out" 2>/dev/null | head -1)
  [[ -n "$url" ]] && break
  sleep 0.1
done
if [[ -z "$url" ]]; then
  echo "FAIL the server printed no URL:"; cat "$tmp/server.out"; exit 1
fi
port=$(echo "$url" | sed -E 's#http://127\.0\.0\.1:([0-9]+)/.*#\1#')
tok=${url##*token=}
base="http://127.0.0.1:$port"
H="X-Narrate-Token: $tok"
expect "token is 64 hex digits" 64 "${#tok}"

# code METHOD PATH [curl args...]: prints the status code; the body goes to $tmp/body
code() {
  local m=$1 p=$2
  shift 2
  curl -s --max-time 20 -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$base$p"
}
body() { cat "$tmp/body"; }

# wait_state STATE SECONDS: polls /api/status until its state is STATE, a
# final state, or the time is up; leaves the state in $state and the
# status in $tmp/body.
wait_state() {
  local end=$((SECONDS + $2))
  while :; do
    code GET /api/status -H "$H" >/dev/null
    state=$(body | sed -E 's/.*"busy":(true|false),"state":"([a-z]+)".*/\2/')
    [[ "$state" == "$1" || $SECONDS -ge $end ]] && return
    case "$state" in done | failed | stopped) return ;; esac
    sleep 0.1
  done
}

# ---- the page, cookie and token --------------------------------------------
expect "GET / without token" 403 "$(code GET /)"
contains "403 page does not leak the token" "needs its token" "$(body)"
[[ "$(body)" != *"$tok"* ]] && ok "403 page has no token" || bad "403 page has the token"
expect "GET / with a wrong token" 403 "$(code GET "/?token=0000000000000000000000000000000000000000000000000000000000000000")"
hdrs=$(curl -s --max-time 10 -D - -o "$tmp/body" "$base/?token=$tok")
contains "GET /?token= sets an HttpOnly SameSite=Strict cookie" \
  "Set-Cookie: narrate_$port=$tok; Path=/; HttpOnly; SameSite=Strict" "$hdrs"
contains "the page carries the token for its script" "content=\"$tok\"" "$(body)"
contains "Content-Security-Policy without inline scripts" "script-src 'self'" "$hdrs"
contains "no framing" "X-Frame-Options: DENY" "$hdrs"
expect "GET / with the cookie" 200 "$(code GET / -b "narrate_$port=$tok")"
contains "page from the cookie carries the token" "content=\"$tok\"" "$(body)"
expect "GET / with a wrong cookie" 403 "$(code GET / -b "narrate_$port=nope")"
expect "GET /app.js (static, no secret)" 200 "$(code GET /app.js)"
contains "app.js is the embedded script" "X-Narrate-Token" "$(body)"
expect "GET /style.css" 200 "$(code GET /style.css)"
expect "GET /nothing" 404 "$(code GET /nothing)"

# ---- Host check (DNS rebinding) ------------------------------------------------
expect "bad Host on the page" 403 "$(code GET "/?token=$tok" -H "Host: evil.example:$port")"
expect "bad Host on the API" 403 "$(code GET /api/status -H "$H" -H "Host: evil.example:$port")"
contains "bad Host message" "DNS rebinding" "$(body)"
expect "Host with the wrong port" 403 "$(code GET /api/status -H "$H" -H "Host: 127.0.0.1:1")"
expect "Host localhost:PORT" 200 "$(code GET /api/status -H "$H" -H "Host: localhost:$port")"

# ---- token rules on the API ----------------------------------------------------
expect "GET /api/status without token" 403 "$(code GET /api/status)"
expect "GET /api/status with a wrong header" 403 "$(code GET /api/status -H "X-Narrate-Token: x$tok")"
expect "GET /api/status with the cookie" 200 "$(code GET /api/status -b "narrate_$port=$tok")"
expect "POST pause with the cookie only (CSRF)" 403 "$(code POST /api/render/pause -b "narrate_$port=$tok")"
contains "state changes need the header" "X-Narrate-Token header" "$(body)"
expect "PUT settings without token" 403 "$(code PUT /api/settings -d '{"batch_size":4}')"
expect "GET /api/events without token" 403 "$(code GET /api/events)"

# ---- status, gpu, books, voices --------------------------------------------------
expect "GET /api/status" 200 "$(code GET /api/status -H "$H")"
contains "status: idle" '"state":"idle"' "$(body)"
contains "status: root" "\"root\":\"$(cd "$root" && pwd -P)\"" "$(body)"
expect "GET /api/gpu" 200 "$(code GET /api/gpu -H "$H")"
contains "gpu: fake name" '"name":"Fake GPU (API test)"' "$(body)"
contains "gpu: start-up report" 'Total VRAM: 12.0 GB\nAvailable VRAM: 7.1 GB\nCurrent batch size (3) is optimal' "$(body)"
contains "gpu: recommendation for 12 GB" '"recommended_batch":3' "$(body)"
expect "GET /api/books" 200 "$(code GET /api/books -H "$H")"
contains "books: book.md listed" '"book.md"' "$(body)"
[[ "$(body)" != *secret.md* ]] && ok "books: symlinks are not listed" || bad "books list a symlink"
expect "GET /api/voices" 200 "$(code GET /api/voices -H "$H")"
contains "voices: espeak:en-us" '"id":"espeak:en-us"' "$(body)"
expect "POST /api/status" 405 "$(code POST /api/status -H "$H")"
expect "GET /api/nothing" 404 "$(code GET /api/nothing -H "$H")"

# ---- settings ------------------------------------------------------------------------
expect "GET /api/settings" 200 "$(code GET /api/settings -H "$H")"
contains "settings: default batch size 3" '"batch_size":3' "$(body)"
contains "settings: keys with help" '{"name":"batch_size","min":0,"max":256,"help":"chunks per batch' "$(body)"
contains "settings: choices" '"name":"device","choices":["cpu","cuda"]' "$(body)"
expect "PUT settings batch_size 4" 200 "$(code PUT /api/settings -H "$H" -d '{"batch_size":4,"rate_wpm":160,"output_format":"wav"}')"
contains "settings.json written with batch_size 4" '"batch_size": 4,' "$(cat "$settings")"
contains "settings.json written with rate_wpm 160" '"rate_wpm": 160,' "$(cat "$settings")"
expect "PUT two bad values" 400 "$(code PUT /api/settings -H "$H" -d '{"batch_size":2.5,"rate_wpm":5,"gap_chapter_ms":100}')"
contains "error for batch_size" '"batch_size":"setting \"batch_size\": bad value \"2.5\"' "$(body)"
contains "error for rate_wpm" '"rate_wpm":"setting \"rate_wpm\": bad value \"5\" (allowed: a whole number from 80 to 450)"' "$(body)"
[[ "$(body)" != *gap_chapter_ms* ]] && ok "no error for the valid key" || bad "valid key reported"
contains "nothing saved after an error" '"gap_chapter_ms": 1500,' "$(cat "$settings")"
expect "PUT unknown key" 400 "$(code PUT /api/settings -H "$H" -d '{"batch_sise":4}')"
contains "unknown key named" 'unknown setting \"batch_sise\"' "$(body)"
expect "PUT not JSON" 400 "$(code PUT /api/settings -H "$H" -d 'batch_size=4')"

# ---- size caps --------------------------------------------------------------------------
head -c 70000 /dev/zero | tr '\0' ' ' > "$tmp/big.json"
expect "PUT settings with a 70 KB body" 413 "$(code PUT /api/settings -H "$H" --data-binary @"$tmp/big.json")"
head -c $((50 * 1024 * 1024 + 1)) /dev/zero > "$tmp/huge.md"
expect "upload of 50 MiB + 1" 413 "$(code POST "/api/upload?name=huge.md" -H "$H" --data-binary @"$tmp/huge.md")"
[[ ! -e "$root/uploads/huge.md" ]] && ok "nothing written for the refused upload" || bad "huge.md was written"
printf '# Uploaded\n\nA short uploaded book. It has two sentences.\n' > "$tmp/small.md"
expect "upload a small book" 201 "$(code POST "/api/upload?name=small%20book.md" -H "$H" --data-binary @"$tmp/small.md")"
contains "upload answer names the path" '"path":"uploads/small book.md","bytes":' "$(body)"
cmp -s "$tmp/small.md" "$root/uploads/small book.md" && ok "uploaded bytes are identical" || bad "upload differs"
expect "upload named ../x.md" 400 "$(code POST "/api/upload?name=..%2Fx.md" -H "$H" --data-binary @"$tmp/small.md")"
expect "upload named x.sh" 400 "$(code POST "/api/upload?name=x.sh" -H "$H" --data-binary @"$tmp/small.md")"
expect "upload without a name" 400 "$(code POST /api/upload -H "$H" --data-binary @"$tmp/small.md")"
expect "upload without the token" 403 "$(code POST "/api/upload?name=y.md" --data-binary @"$tmp/small.md")"

# ---- path confinement --------------------------------------------------------------------
start() { code POST /api/render/start -H "$H" -d "$1"; }
expect "start book ../outside/secret.md" 400 "$(start '{"book":"../outside/secret.md"}')"
contains "\"..\" named in the error" 'contains \"..\"' "$(body)"
expect "start book /etc/hostname (absolute, outside)" 400 "$(start '{"book":"/etc/hostname"}')"
expect "start book through a folder link" 400 "$(start '{"book":"link-out/secret.md"}')"
expect "start book that is a link out" 400 "$(start '{"book":"secret.md"}')"
contains "outside named in the error" 'outside the workspace' "$(body)"
expect "start out_dir ../out" 400 "$(start '{"book":"book.md","out_dir":"../out"}')"
expect "start out_dir under a folder link" 400 "$(start '{"book":"book.md","out_dir":"link-out/new/dir"}')"
expect "start out_dir /tmp/x (absolute, outside)" 400 "$(start '{"book":"book.md","out_dir":"/tmp/narrate-api-x"}')"
expect "start voice path outside" 400 "$(start '{"book":"book.md","voice":"../v.onnx"}')"
expect "start a missing book" 400 "$(start '{"book":"nope.md"}')"
expect "start without a book" 400 "$(start '{}')"
[[ ! -e "$tmp/out" && ! -e "$tmp/outside/new" ]] && ok "nothing created outside" || bad "created outside"

# ---- render: start, 409, events, prompt, pause, resume ------------------------------------
expect "pause with nothing running" 409 "$(code POST /api/render/pause -H "$H")"
curl -s -N --max-time 280 -H "$H" "$base/api/events" > "$tmp/events.txt" &
sse=$!
sleep 0.3
expect "start book.md" 202 "$(start '{"book":"book.md","out_dir":"out/a","voice":"espeak:en-us"}')"
contains "start answer: resolved out_dir" "\"out_dir\":\"$(cd "$root" && pwd -P)/out/a\"" "$(body)"
contains "start answer: batch size from settings.json" '"batch_size":4' "$(body)"
expect "second start while running" 409 "$(start '{"book":"book.md","out_dir":"out/b"}')"
contains "409 says why" "already running" "$(body)"

# Batch 4 is at 97 %: wait for the prompt.
wait_state prompt 120
expect "render waits at the VRAM prompt" prompt "$state"
contains "status carries the prompt" '"prompt":{"batch_size":4,"suggested":2,"used_percent":97' "$(body)"
contains "status carries chart points" '"points":[{"batch":1,' "$(body)"
expect "answer with a bad value" 400 "$(code POST /api/render/answer -H "$H" -d '{"answer":"maybe"}')"
# Pause now: it takes effect after the next batch.
expect "pause" 200 "$(code POST /api/render/pause -H "$H")"
expect "answer reduce" 200 "$(code POST /api/render/answer -H "$H" -d '{"answer":"reduce"}')"
expect "answer again (no prompt)" 409 "$(code POST /api/render/answer -H "$H" -d '{"answer":"continue"}')"
wait_state paused 120
expect "render paused" paused "$state"
contains "batch size reduced 4 -> 2" '"batch_size":2' "$(body)"
expect "resume" 200 "$(code POST /api/render/resume -H "$H")"
wait_state done 120
expect "render done" done "$state"
contains "result done" '"result":{"result":"done","message":"finished"}' "$(body)"
contains "progress 55/55" '"chunks_total":55,"chunks_done":55' "$(body)"
fmt=$(sed -n 's/.*"output_format": "\([a-z0-9]*\)".*/\1/p' "$settings")
[[ -s "$root/out/a/book.$fmt" ]] && ok "book.$fmt written (output_format)" || bad "no book.$fmt"
contains "log kept in status" 'Reducing batch size from 4 to 2 and continuing' "$(body)"
# The stream is live: the "finished" event arrives without reconnecting.
for _ in $(seq 100); do
  grep -q '"event":"finished"' "$tmp/events.txt" && break
  sleep 0.1
done
kill "$sse" 2>/dev/null
wait "$sse" 2>/dev/null
sse=""
ev=$(cat "$tmp/events.txt")
contains "SSE: retry" "retry: 2000" "$ev"
contains "SSE: a log event" 'event: log' "$ev"
contains "SSE: the seed's batch line" 'Batch 1 (4 chunks) done in' "$ev"
contains "SSE: warning level" '"level":"warning"' "$ev"
contains "SSE: chart point" 'data: {"batch":1,' "$ev"
contains "SSE: prompt" 'event: prompt' "$ev"
contains "SSE: prompt closed" 'event: prompt_closed' "$ev"
contains "SSE: finished" '"event":"finished","result":"done"' "$ev"
npoints=$(grep -c '^event: point' "$tmp/events.txt")
[[ $npoints -ge 10 ]] && ok "SSE: one point per batch ($npoints)" || bad "SSE points: $npoints"
# Replay from an id: only later events.
last=$(grep '^id: ' "$tmp/events.txt" | tail -1 | cut -d' ' -f2)
curl -s -N --max-time 2 -H "$H" -H "Last-Event-ID: $((last - 1))" "$base/api/events" > "$tmp/replay.txt"
expect "SSE: Last-Event-ID replays what was missed" "id: $last" "$(grep '^id: ' "$tmp/replay.txt" | head -1)"

# ---- stop at the prompt ---------------------------------------------------------------------
expect "start again into out/c" 202 "$(start '{"book":"book.md","out_dir":"out/c"}')"
wait_state prompt 120
expect "second render reaches the prompt" prompt "$state"
expect "stop" 200 "$(code POST /api/render/stop -H "$H")"
wait_state stopped 120
expect "render stopped" stopped "$state"
contains "busy false after stop" '"busy":false' "$(body)"
expect "stop with nothing running" 409 "$(code POST /api/render/stop -H "$H")"

# ---- shutdown ------------------------------------------------------------------------------
kill -TERM "$pid"
rc=0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then bad "server still running 10 s after SIGTERM"; else
  wait "$pid"; rc=$?; expect "server exit status after SIGTERM" 0 "$rc"; fi
pid=""

if [[ $fails -gt 0 ]]; then
  echo "--- server output ---"; cat "$tmp/server.out"
  echo "$fails check(s) failed"
  exit 1
fi
echo "all checks passed"
