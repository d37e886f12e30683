#!/usr/bin/env bash
# Real-GPU check of the VRAM features (issue 3, point 9). docs/GPU.md explains it.
#
#   scripts/device-check.sh bundle [TARBALL]  build here (Debian 12 + CUDA toolkit) and pack the
#                                             binaries with every shared library they need that
#                                             the GPU machine may lack
#   scripts/device-check.sh run [TARBALL]     on the GPU machine: unpack, start-up report, GPU
#                                             tests, steady and leaking renders of the sample
#                                             book, both activity logs, a summary table
#   scripts/device-check.sh                   both, on a machine that can build and has a GPU
#   scripts/device-check.sh rehearse [TARBALL] the run step without a GPU: host memory and fake
#                                             traces (tests/data/gpu) stand in, to check the script
#
# TARBALL defaults to build-devcheck/devcheck-bundle.tar.gz (carry that path to the device).
# Output files (logs, telemetry, graphs) go to $OUT when set, else /tmp/narrate-devcheck-out.
# Exit status: 0 when every expectation in the table holds.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${NARRATE_DEVCHECK_BUILD:-$ROOT/build-devcheck}
TARBALL=${2:-$BUILD/devcheck-bundle.tar.gz}
BOOK=${NARRATE_DEVCHECK_BOOK:-$(ls "$ROOT"/examples/*.md 2>/dev/null | head -1)}
BATCH=${NARRATE_DEVCHECK_BATCH:-3}
WORK=${NARRATE_DEVCHECK_WORK:-/tmp/narrate-devcheck}
RESULTS=${OUT:-/tmp/narrate-devcheck-out}

say() { printf '\n=== %s ===\n' "$*"; }

# Shared libraries that every Linux has, or that come with the driver: not packed.
is_system_lib() {
    case "$1" in
    linux-vdso* | ld-linux* | libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | \
        libgcc_s.so* | libstdc++.so* | libresolv.so* | libcuda.so* | libnvidia-*) return 0 ;;
    esac
    return 1
}

bundle() {
    say "build (NARRATE_CUDA=ON) in $BUILD"
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNARRATE_CUDA=ON \
        -DNARRATE_SANITIZE=OFF >"$BUILD/configure.log" 2>&1 ||
        { cat "$BUILD/configure.log"; return 1; }
    # Not the narrate CLI: it loads FFmpeg and ~150 libraries, too many to carry.
    # narrate-devcheck --gpu-report prints the same start-up report as `narrate gpu`.
    local targets="narrate-devcheck test_gpu_device test_gpu test_gpu_watchdog"
    cmake --build "$BUILD" -j"$(nproc)" --target $targets || return 1
    # narrate-devcheck leaves the symbols of libraries it never calls unbound;
    # nothing else may be (tools/devcheck/CMakeLists.txt).
    local m archives=""
    for m in render report gpu voice text audio nn core; do
        [ -f "$BUILD/src/$m/libnarrate_$m.a" ] && archives="$archives $BUILD/src/$m/libnarrate_$m.a"
    done
    # shellcheck disable=SC2086
    sh "$ROOT/tools/devcheck/check-undefined.sh" "$BUILD/tools/devcheck/narrate-devcheck" $archives ||
        return 1
    local stage=$BUILD/devcheck-bundle
    rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
    local bins="$BUILD/tools/devcheck/narrate-devcheck $BUILD/tests/test_gpu_device
                $BUILD/tests/test_gpu $BUILD/tests/test_gpu_watchdog"
    for b in $bins; do
        cp "$b" "$stage/bin/" && strip --strip-debug "$stage/bin/$(basename "$b")"
    done
    cp "$BUILD"/tests/libnvml-double-*.so "$stage/lib/"
    # Every non-system library the binaries load (ldd lists the whole closure).
    for b in "$stage"/bin/*; do
        ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
    done | sort -u | while read -r name path; do
        is_system_lib "$name" || cp -L "$path" "$stage/lib/$name"
    done
    # The CUDA runtime for test_gpu_device (narrate-devcheck links it statically).
    local cudart
    cudart=$(ls /usr/local/cuda/lib64/libcudart.so.[0-9]* 2>/dev/null | sort | head -1)
    [ -n "$cudart" ] && cp -L "$cudart" "$stage/lib/"
    echo "packed libraries:"
    ls "$stage/lib"
    tar -C "$BUILD" -czf "$TARBALL" devcheck-bundle
    echo "bundle: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

# "key":value from a JSON line (numbers and strings; null gives "").
field() { sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[-0-9.]*\).*/\1/p" | tr -d '"'; }

summarize() { # mode dir
    local tel=$2/telemetry.jsonl log=$2/activity.log
    local batches first last peak growth warn stall status
    batches=$(grep -c '"type":"batch"' "$tel" 2>/dev/null || true)
    first=$(grep '"type":"batch"' "$tel" | head -1 | field vram_used_gb)
    last=$(grep '"type":"batch"' "$tel" | tail -1 | field vram_used_gb)
    peak=$(grep '"type":"batch"' "$tel" | field vram_used_gb | sort -g | tail -1)
    growth=$(awk -v a="${first:-0}" -v b="${last:-0}" -v n="${batches:-0}" \
        'BEGIN { if (n > 1) printf "%+.2f", (b - a) / (n - 1); else print "n/a" }')
    warn=$(grep -c 'VRAM growing' "$log" 2>/dev/null || true)
    stall=$(grep -c 'no batch finished' "$log" 2>/dev/null || true)
    status=$(grep '"type":"end"' "$tel" | tail -1 | field status)
    printf '%-7s %7s %9s %9s %9s %12s %9s %7s %8s\n' "$1" "${batches:-0}" "${first:-n/a}" \
        "${last:-n/a}" "${peak:-n/a}" "$growth" "${warn:-0}" "${stall:-0}" "${status:-none}"
    echo "$1 $warn $batches $status" >>"$WORK/expect"
}

run() {
    local fail=0
    : >"$WORK/expect"
    local B=$WORK/bundle
    rm -rf "$B" && mkdir -p "$B"
    tar -C "$B" -xzf "$TARBALL" --strip-components=1 || { echo "cannot unpack $TARBALL"; return 1; }
    # The packed libraries are for our binaries only: system tools keep their own.
    LIBS="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    unset NARRATE_FAKE_GPU
    local extra=""
    [ "${REHEARSE:-0}" = 1 ] && extra="--dry-run --chunk-gb 0.01 --leak-gb 0.01 --sleep-ms 5" &&
        echo "REHEARSAL: host memory and fake GPU traces, not a device check"
    local cudart
    cudart=$(ls "$B"/lib/libcudart.so.* 2>/dev/null | head -1)
    [ -n "$cudart" ] && export NARRATE_CUDART_LIB=$cudart
    for b in "$B"/bin/*; do
        if LD_LIBRARY_PATH=$LIBS ldd "$b" | grep -q 'not found'; then
            echo "missing libraries for $(basename "$b"):"; LD_LIBRARY_PATH=$LIBS ldd "$b" | grep 'not found'; fail=1
        fi
    done

    say "nvidia-smi"
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>&1 || true

    say "start-up report (narrate gpu)"
    [ "${REHEARSE:-0}" = 1 ] && export NARRATE_FAKE_GPU=$ROOT/tests/data/gpu/h100.json
    LD_LIBRARY_PATH=$LIBS "$B/bin/narrate-devcheck" --gpu-report --batch-size "$BATCH" || fail=1
    unset NARRATE_FAKE_GPU

    say "GPU tests (label gpu) and the gpu unit tests"
    local t rc
    # test_gpu finds the stand-in NVML builds through NVML_DOUBLE_<VARIANT>.
    local d v doubles=""
    for d in "$B"/lib/libnvml-double-*.so; do
        v=$(basename "$d" .so | sed 's/^libnvml-double-//' | tr 'a-z' 'A-Z')
        doubles="$doubles NVML_DOUBLE_$v=$d"
    done
    for t in test_gpu_device test_gpu test_gpu_watchdog; do
        # shellcheck disable=SC2086
        env LD_LIBRARY_PATH="$LIBS" NARRATE_SOURCE_DIR="$ROOT" $doubles "$B/bin/$t"
        rc=$?
        case $rc in 0) echo "$t: PASS" ;; 77) echo "$t: SKIPPED (no GPU?)"; [ "${REHEARSE:-0}" = 1 ] || fail=1 ;;
        *) echo "$t: FAIL ($rc)"; fail=1 ;; esac
    done

    local mode
    for mode in steady leak; do
        say "render: $mode engine, batch size $BATCH, $(basename "$BOOK")"
        rm -rf "${WORK:?}/$mode"
        local t0=$SECONDS trace=stable_61
        [ $mode = leak ] && trace=leak
        [ "${REHEARSE:-0}" = 1 ] && export NARRATE_FAKE_GPU=$ROOT/tests/data/gpu/$trace.json
        # shellcheck disable=SC2086
        LD_LIBRARY_PATH=$LIBS "$B/bin/narrate-devcheck" --mode "$mode" -o "$WORK/$mode" --batch-size "$BATCH" $extra \
            "$BOOK" >"$WORK/$mode.stdout" 2>&1 || { echo "render failed:"; tail -5 "$WORK/$mode.stdout"; fail=1; }
        unset NARRATE_FAKE_GPU
        echo "($((SECONDS - t0)) s)"
        say "$mode: activity log"
        cat "$WORK/$mode/activity.log" 2>/dev/null || { echo "(none)"; fail=1; }
        for f in activity.log telemetry.jsonl vram.svg; do
            [ -f "$WORK/$mode/$f" ] && cp "$WORK/$mode/$f" "$RESULTS/$mode-$f"
        done
    done

    say "summary (VRAM in GB as NVML reports it; growth = (last - first) / (batches - 1))"
    printf '%-7s %7s %9s %9s %9s %12s %9s %7s %8s\n' engine batches first last peak growth/batch \
        leak-warn stalls status
    summarize steady "$WORK/steady"
    summarize leak "$WORK/leak"
    while read -r m warn n status; do
        if [ "$status" != done ] || [ "${n:-0}" -lt 3 ]; then
            echo "FAIL: $m render did not finish with at least 3 batches"; fail=1
        fi
        if [ "$m" = steady ] && [ "${warn:-0}" -ne 0 ]; then echo "FAIL: leak warning on the steady run"; fail=1; fi
        if [ "$m" = leak ] && [ "${warn:-0}" -lt 1 ]; then echo "FAIL: no leak warning on the leaking run"; fail=1; fi
    done <"$WORK/expect"
    [ $fail -eq 0 ] && echo "device check: PASS" || echo "device check: FAIL"
    return $fail
}

run_logged() {
    mkdir -p "$RESULTS" "$WORK"
    run 2>&1 | tee "$WORK/device-check.txt"
    local rc=${PIPESTATUS[0]}
    cp "$WORK/device-check.txt" "$RESULTS/device-check.txt"
    return "$rc"
}

case "${1:-all}" in
bundle) bundle ;;
run) run_logged ;;
rehearse) REHEARSE=1 run_logged ;;
all) bundle && run_logged ;;
-h | --help) sed -n '2,17p' "$0" ;;
*) echo "usage: $0 [bundle|run|rehearse|all] [TARBALL]" >&2; exit 2 ;;
esac
