#!/usr/bin/env bash
# Model benchmarks on an NVIDIA GPU (H100/H200), in two halves:
#
#   scripts/gpu-bench.sh build [OUT_DIR]
#       On a machine WITHOUT a GPU (this project's build machines): fetches the CUDA 13.0
#       compiler and libraries as PyPI wheels, makes a link-time-only libcuda stub, builds
#       `weft --features cuda` and writes OUT_DIR/weft.xz (default OUT_DIR: target/gpu-bench)
#       with this script beside it. About 17 minutes on 2 cores.
#
#   scripts/gpu-bench.sh run [WORK_DIR]
#       On the GPU machine, in the folder holding weft.xz: unpacks weft, writes a
#       first times the seven linears of one Llama-3.1-8B layer in each weight format
#       (`weft dev bench-linear --device 0`: unquantized bf16, FP8 ISQ, its GEMM alone, FP8 ISQ
#       with the batch folded into one sequence, block-scaled FP8, Q8_0; seconds), then writes a
#       random-weight Llama-3.1-8B-shaped model (`weft dev tiny-llama --shape 8b`, 15 GiB) and
#       the same shape as a block-scaled FP8 checkpoint (`--fp8-blocks 128`, 8 GiB), and runs
#       `weft bench model` at batch 1 and 8 for: bf16, bf16 + paged attention, FP8 ISQ, FP8 ISQ
#       on the inner feed-forward projections only, and the FP8 checkpoint (with and without
#       paged attention).
#       Needs the NVIDIA driver and the CUDA 13 runtime libraries (libcudart, libcublas,
#       libcublasLt, libcurand): set CUDA_LIBRARIES to their folder if they are not on the
#       loader's path (a PyTorch cu13 venv has them under .../site-packages/nvidia/cu13/lib).
set -euo pipefail

mode="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"

build() {
    local out="${1:-$here/../target/gpu-bench}"
    local root=/tmp/cuda-root
    if [ ! -x "$root/bin/nvcc" ]; then
        mkdir -p /tmp/cuda-wheels && cd /tmp/cuda-wheels
        python3 -m pip download --no-deps -d . \
            nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88 \
            nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.0.2.14 \
            nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88
        rm -rf /tmp/cuda-unzip "$root" && mkdir -p /tmp/cuda-unzip && cd /tmp/cuda-unzip
        for wheel in /tmp/cuda-wheels/nvidia_*.whl; do python3 -m zipfile -e "$wheel" .; done
        mv /tmp/cuda-unzip/nvidia/cu13 "$root"
        chmod +x "$root"/bin/* "$root"/nvvm/bin/*
        cd "$root/lib"
        for library in libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libnvrtc.so.13 libnvvm.so.4; do
            ln -sf "$library" "${library%.*}"
        done
        ln -sf libcurand.so.10 libcurand.so
        cd "$root" && ln -sfn lib lib64
    fi
    cd "$here/.."
    cargo fetch --locked
    if [ ! -f "$root/lib/stubs/libcuda.so" ]; then
        # Every driver entry point cudarc binds, as a function that is never called here:
        # the binary records NEEDED libcuda.so.1 and the GPU machine's driver provides it.
        mkdir -p "$root/lib/stubs" /tmp/cuda-stub
        local cudarc
        cudarc="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | tail -n 1)"
        grep -ohE '^\s+fn (cu[A-Za-z0-9_]+)\(' "$cudarc/src/driver/sys/mod.rs" \
            | sed -E 's/^\s+fn (cu[A-Za-z0-9_]+)\(/\1/' | sort -u \
            | awk 'BEGIN { print "int weft_cuda_stub(void) { return 999; }" } { print "int " $1 "(void) { return 999; }" }' \
            > /tmp/cuda-stub/stub.c
        gcc -shared -fPIC -O0 -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" /tmp/cuda-stub/stub.c
    fi
    export CUDA_HOME="$root" CUDA_PATH="$root" CUDA_ROOT="$root"
    export PATH="$root/bin:$PATH"
    export LIBRARY_PATH="$root/lib:$root/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
    export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-2}"
    export CARGO_TARGET_DIR="${CUDA_TARGET_DIR:-$HOME/.cache/weft-target-cuda}"
    nice -n 10 cargo build --release --locked -p weft-cli --features cuda --bin weft
    mkdir -p "$out"
    strip -o "$out/weft" "$CARGO_TARGET_DIR/release/weft"
    xz -9e -T2 -f "$out/weft"
    cp "$0" "$out/gpu-bench.sh"
    ls -l "$out"
}

run() {
    local work="${1:-$PWD}"
    cd "$work"
    [ -x ./weft ] || xz -dkf weft.xz
    chmod +x ./weft
    if [ -n "${CUDA_LIBRARIES:-}" ]; then
        export LD_LIBRARY_PATH="$CUDA_LIBRARIES${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    export CUDA_CACHE_PATH="${CUDA_CACHE_PATH:-/tmp/weft-cuda-cache}"
    local model="${MODEL_DIR:-/tmp/weft-llama-8b}" fp8="${FP8_MODEL_DIR:-/tmp/weft-llama-8b-fp8}"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    echo "== weft dev bench-linear (one layer's linears, per weight format)"
    ./weft dev bench-linear --shape 8b --device 0 --batch 1,8,32 --prefill 512 || echo "(failed: exit $?)"
    [ -f "$model/model.safetensors" ] || ./weft dev tiny-llama --shape 8b "$model"
    [ -f "$fp8/model.safetensors" ] || ./weft dev tiny-llama --shape 8b --fp8-blocks 128 "$fp8"
    local prompt="${PROMPT_TOKENS:-512}" decode="${DECODE_TOKENS:-128}"
    for spec in \
        "$model?dtype=bf16&paged=off" \
        "$model?dtype=bf16&paged=on" \
        "$model?dtype=bf16&isq=fp8&paged=off" \
        "$model?dtype=bf16&isq=fp8&isq_scope=ffn&paged=off" \
        "$fp8?dtype=bf16&paged=off" \
        "$fp8?dtype=bf16&paged=on"; do
        echo "== mistralrs:$spec"
        ./weft bench model --model "mistralrs:$spec" \
            --prompt-tokens "$prompt" --decode-tokens "$decode" --batch 1,8 || echo "(failed: exit $?)"
    done
}

case "$mode" in
    build) shift; build "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 build [OUT_DIR] | run [WORK_DIR]" >&2; exit 2 ;;
esac
