#!/usr/bin/env bash
# Configure and build tern into ./build (Release, every backend).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${TERN_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)"
