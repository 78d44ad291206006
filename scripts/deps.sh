#!/usr/bin/env bash
# Install the Debian 12 packages tern builds and tests with (idempotent).
set -euo pipefail
pkgs=(build-essential cmake pkg-config git clang-format zlib1g-dev libjson-c-dev
  libcriterion-dev libopenblas-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-tools vulkan-validationlayers
  glslang-tools spirv-tools
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  libjs-chart.js chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
