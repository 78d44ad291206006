#!/usr/bin/env bash
# neon_qemu.sh — cross-builds the CPU kernels and tests/neon_check.c for
# AArch64 (Debian's aarch64-linux-gnu-gcc) and runs the check under
# qemu-user: once with -cpu max (asimddp: the SDOT table) and once with
# -cpu cortex-a53 (no dot product: the plain NEON fallback). Only the
# sources the check links are compiled (no zlib/arm64 needed); objects are
# rebuilt when a source or header is newer.
# Usage: neon_qemu.sh [build-dir]   (default: build-neon in the source tree)
# Exit 77 (ctest SKIP) when the cross compiler or qemu-aarch64 is missing.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-neon}
CC=${TERN_AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${TERN_QEMU_AARCH64:-qemu-aarch64}
SYSROOT=${TERN_AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}

for tool in "$CC" "$QEMU"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "neon_qemu: $tool not found; skipping the AArch64 check" \
      "(Debian: gcc-aarch64-linux-gnu qemu-user)"
    exit 77
  fi
done

mkdir -p "$out/obj"
# The compiler alone is not enough: the arm64 C library headers come from
# libc6-dev-arm64-cross (only recommended by gcc-aarch64-linux-gnu).
printf '#include <stdio.h>\nint main(void) { return puts("") < 0; }\n' \
  >"$out/probe.c"
if ! "$CC" -static -o "$out/probe" "$out/probe.c" 2>"$out/probe.log"; then
  cat "$out/probe.log"
  echo "neon_qemu: $CC cannot build a static program;" \
    "install libc6-dev-arm64-cross" >&2
  exit 1
fi
# The flags of the root CMakeLists (no FMA contraction: docs/NUMERICS.md).
CFLAGS=(-std=c11 -O3 -ffp-contract=off -fno-fast-math -Wall -Wextra
  -Wno-unused-parameter -Wno-missing-field-initializers
  -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTERN_CPU_HAVE_NEON -pthread
  -I"$src/include" -I"$src/core" -I"$src")

# What the check links: the ops (reference), the numeric helpers and the
# CPU kernels; not the graph/session/backend layers, the model-file codec
# (zlib) or the x86 kernels.
sources=("$src"/core/util.c "$src"/core/quant.c "$src"/core/pack.c)
for f in "$src"/core/ops/*.c "$src"/backends/cpu/*.c; do
  case "$(basename "$f")" in
  cpu_kern_avx*.c | cpu_backend.c | cpu_fast.c) continue ;;
  esac
  sources+=("$f")
done

# Objects older than any header or this script (its flags) are rebuilt.
newest_header=$( (
  find "$src/include" "$src/core" "$src/backends/cpu" "$src/tests" -name '*.h' \
    -printf '%T@\n'
  stat -c %Y "$0"
) | sort -n | tail -1)

build_one() { # source object
  local flags=("${CFLAGS[@]}")
  case "$1" in
  */cpu_kern_neondot.c) flags+=(-Werror -march=armv8.2-a+dotprod) ;;
  */cpu_kern_neon.c | */cpu_eltwise_neon.c) flags+=(-Werror) ;;
  esac
  "$CC" "${flags[@]}" -c "$1" -o "$2"
}

stale() { # object source
  [[ ! -f $1 || $2 -nt $1 ]] && return 0
  local t
  t=$(stat -c %Y "$1")
  [[ ${newest_header%.*} -ge $t ]]
}

objs=()
pids=()
for f in "${sources[@]}" "$src/tests/neon_check.c"; do
  rel=${f#"$src"/}
  o="$out/obj/${rel//\//_}.o"
  objs+=("$o")
  if stale "$o" "$f"; then
    build_one "$f" "$o" &
    pids+=($!)
    if ((${#pids[@]} >= 2)); then # 2 cores: two compiles at a time
      wait "${pids[0]}"
      pids=("${pids[@]:1}")
    fi
  fi
done
for p in "${pids[@]}"; do
  wait "$p"
done

# Static: qemu then needs no arm64 loader; -L stays for dynamic builds.
"$CC" -static -pthread -o "$out/neon_check" "${objs[@]}" -lm

status=0
run() { # cpu-model expected-best
  echo "== qemu-aarch64 -cpu $1 (expect $2)"
  local t0=$SECONDS
  if ! "$QEMU" -L "$SYSROOT" -cpu "$1" "$out/neon_check" --expect-best "$2"; then
    status=1
  fi
  echo "   ($((SECONDS - t0)) s)"
}
run max neondot
run cortex-a53 neon
exit $status
