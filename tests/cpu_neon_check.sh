#!/bin/sh
# cpu_neon_check.sh SRC_DIR OUT_DIR — cross-build the CPU kernels with the
# AArch64 compiler and run tests/cpu_isa_check.c under qemu-aarch64: the
# NEON kernel table must be bit-identical to the reference ops.
# Needs the Debian packages gcc-aarch64-linux-gnu and qemu-user.
set -eu
src=$1
out=$2
mkdir -p "$out"
aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Wno-unused-parameter \
  -Wno-missing-field-initializers -ffp-contract=off \
  -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTERN_CPU_HAVE_NEON \
  -I"$src/include" -I"$src/core" -I"$src" \
  "$src"/core/util.c "$src"/core/quant.c "$src"/core/pack.c \
  "$src"/core/ops/*.c \
  "$src"/backends/cpu/cpu_kern_neon.c "$src"/backends/cpu/cpu_kern_scalar.c \
  "$src"/backends/cpu/cpu_kern_avx2.c "$src"/backends/cpu/cpu_pack.c \
  "$src"/backends/cpu/cpu_linear.c "$src"/backends/cpu/cpu_features.c \
  "$src"/backends/cpu/cpu_threads.c "$src"/backends/cpu/cpu_conv2d.c \
  "$src"/tests/cpu_isa_check.c -static -lm -lpthread \
  -o "$out/cpu_isa_check_aarch64"
qemu-aarch64 "$out/cpu_isa_check_aarch64"
