#!/usr/bin/env bash
# Installs the Debian 12 packages narrate needs. Usage: scripts/deps.sh [--test]
# --test adds what the test suite needs (test data, ffprobe, xmllint, a
# browser and Node.js for the dashboard test). Installs only what is missing.
set -euo pipefail

build=(build-essential cmake pkg-config git
       libespeak-ng-dev espeak-ng-data libzip-dev libxml2-dev libcjson-dev libxxhash-dev
       libopenblas-dev libmicrohttpd-dev
       libavformat-dev libavcodec-dev libavutil-dev libebur128-dev libsoxr-dev)
testing=(libonnx-testdata libxml2-utils ffmpeg espeak-ng sox python3 curl chromium nodejs npm
         ca-certificates)

want=("${build[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${testing[@]}")
fi

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from elsewhere (nodesource, nvm): a working command is enough.
  if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
