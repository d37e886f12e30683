#!/bin/sh
# check-undefined.sh BINARY ARCHIVE...
# narrate-devcheck is linked with unresolved symbols allowed (CMakeLists.txt
# here says why); the linker then binds them to 0 without a trace. This
# check fails the build when a symbol that the project's archives need is
# neither defined in the binary nor taken from a library it loads, unless it
# belongs to a library left out on purpose: eSpeak NG, BLAS, libzip, libxml2,
# FFmpeg, cuBLAS.
set -e
bin=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Symbols the archives use but do not define (all their objects: an over-
# approximation of what the link pulled in, so the check errs on the safe side).
nm --format=posix "$@" 2>/dev/null | awk '$2 == "U" { print $1 }' | sort -u >"$tmp/used"
nm --format=posix --defined-only "$@" 2>/dev/null | awk 'NF >= 2 { print $1 }' | sort -u >"$tmp/defined"
comm -23 "$tmp/used" "$tmp/defined" >"$tmp/external"
# What the binary has: its own definitions and what it imports from loaded libraries.
{
    nm --format=posix --defined-only "$bin" | awk '{ print $1 }'
    nm -D --format=posix --undefined-only "$bin" | awk '{ print $1 }'
} | sed 's/@.*//' | sort -u >"$tmp/have"
bad=$(comm -23 "$tmp/external" "$tmp/have" |
    grep -Ev '^(espeak_|cblas_|openblas_|[sdcz]gemm_|zip_|xml|__xml|html|av_|avcodec_|avformat_|avio_|swr_|sws_|cublas)' || true)
if [ -n "$bad" ]; then
    echo "narrate-devcheck: symbols that would be unbound at run time (a library is missing from its link):" >&2
    echo "$bad" >&2
    exit 1
fi
