#!/usr/bin/env bash
# Quick start: install dependencies, build, and run tern's main job (the
# hardware-compatibility matrix on every detected device).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
./build/tern devices
