#!/bin/sh
# Fails when narrate-devcheck has undefined symbols other than those of the
# libraries it deliberately does not load (see CMakeLists.txt here): eSpeak
# NG, BLAS, libzip, libxml2, FFmpeg, cuBLAS. Symbols with a version
# (foo@GLIBC_2.34) come from libraries that are loaded.
bin=$1
bad=$(nm -D --undefined-only "$bin" | awk '$1 == "U" || $1 == "w" { print $2 }' | grep -v '@' |
    grep -Ev '^(espeak_|cblas_|openblas_|[sdcz]gemm_|zip_|xml|av_|avcodec_|avformat_|avio_|swr_|sws_|cublas)' |
    grep -Ev '^(_ITM_|__gmon_start__|__cxa_finalize|_Jv_RegisterClasses)')
if [ -n "$bad" ]; then
    echo "narrate-devcheck: unexpected undefined symbols (a library is missing from the link):" >&2
    echo "$bad" >&2
    exit 1
fi
