#!/usr/bin/env bash
# The main job: install, build, and render the shipped sample book with the
# default voice (eSpeak NG). Usage: scripts/sample.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target narrate
out=${1:-out/sample}
./build/release/narrate render examples/the-lighthouse-keepers-clock.md -o "$out"
echo
echo "Your audiobook: $(ls "$out"/book.* | grep -v '\.srt$\|\.vtt$' | head -1)"
echo "Chapters: $out/NN - <title>.*; subtitles: $out/book.srt; log: $out/activity.log"
