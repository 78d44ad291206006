#!/usr/bin/env bash
# Install the build into a temporary prefix, then build and run a consumer
# program against it through find_package(tern) and through pkg-config.
set -euo pipefail
build=$1 src=$2 readme=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib64:${LD_LIBRARY_PATH:-}" "$tmp/cm/consumer_shared"
"$tmp/cm/consumer_static"
libdir=$(ls -d "$tmp/prefix"/lib*/pkgconfig | head -n1)
export PKG_CONFIG_PATH="$libdir"
# the .pc was generated for the build's prefix: point it at the temporary one
sed -i "s|^prefix=.*|prefix=$tmp/prefix|" "$libdir/tern.pc"
cc "$src/main.c" -o "$tmp/pc_shared" $(pkg-config --cflags --libs tern)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/pc_shared"
cc "$src/main.c" -o "$tmp/pc_static" $(pkg-config --cflags tern) \
  "$(dirname "$libdir")/libtern.a" $(pkg-config --libs-only-other --static tern) \
  $(pkg-config --static --libs tern | sed 's/-ltern//')
"$tmp/pc_static"
n=4
if [ -n "$readme" ]; then
  # the README's C example must compile and print what it promises
  awk '/^```c$/{f=1;next} /^```$/{if(f){exit}} f' "$readme" > "$tmp/readme.c"
  cc -std=c11 -Wall -Werror "$tmp/readme.c" -o "$tmp/readme" $(pkg-config --cflags --libs tern)
  out=$(LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/readme")
  [ "$out" = "2 0.5" ] || { echo "README example printed '$out'"; exit 1; }
  n=5
fi
echo "install_consumer: $n passed, 0 failed"
