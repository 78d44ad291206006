#!/bin/sh
# cli_test.sh — end-to-end test of the `tern` CLI: --help everywhere, exit
# codes (0 ok, 1 failure, 2 usage), model create -> inspect --json (the
# compression figures) -> run -> quantize, and clean errors on corrupt files.
# usage: cli_test.sh TERN_BINARY JSON_CHECK_BINARY WORK_DIR
set -u
TERN=$1
JSON=$2
W=$3
rm -rf "$W" && mkdir -p "$W" || exit 1
fails=0

fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

# expect CODE CMD...: runs CMD (stdout to $W/out, stderr to $W/err).
expect() {
  want=$1
  shift
  "$@" >"$W/out" 2>"$W/err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    fail "exit $got (want $want): $*"
    sed 's/^/  stderr: /' "$W/err" | head -5 >&2
  fi
}

# json_ok CMD...: exit 0 and exactly one JSON document on stdout.
json_ok() {
  expect 0 "$@"
  "$JSON" "$W/out" >/dev/null || fail "not one JSON document: $*"
}

# at_least VALUE MIN WHAT
at_least() {
  awk -v v="$1" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }' ||
    fail "$3: $1 < $2"
}

# ------------------------------------------------------------- help/usage
expect 0 "$TERN" --help
grep -q "commands:" "$W/out" || fail "tern --help lists no commands"
# every command in the table (other helpers add theirs), plus subcommands
cmds=$(awk 'f && /^  [a-z]/ { print $1 } /^commands:/ { f = 1 }' "$W/out")
expect 0 "$TERN" --version
grep -q "tern [0-9]" "$W/out" || fail "--version"
for c in devices model inspect run quantize; do
  echo "$cmds" | grep -qx "$c" || fail "tern --help does not list $c"
done
for c in $cmds "model create" "model list"; do
  # shellcheck disable=SC2086
  expect 0 "$TERN" $c --help
  grep -q "usage: tern" "$W/out" || fail "$c --help prints no usage"
  [ -s "$W/err" ] && fail "$c --help wrote to stderr"
done
expect 2 "$TERN"
expect 2 "$TERN" frobnicate
expect 2 "$TERN" --frobnicate
expect 2 "$TERN" inspect
expect 2 "$TERN" inspect a.tern b.tern
expect 2 "$TERN" inspect --bogus a.tern
expect 2 "$TERN" model
expect 2 "$TERN" model destroy
expect 2 "$TERN" model create mlp
expect 2 "$TERN" model create mlp -o "$W/x.tern" --precision int4
expect 2 "$TERN" model create mlp -o "$W/x.tern" --width abc
expect 2 "$TERN" model create mlp -o "$W/x.tern" --storage 3bit
expect 2 "$TERN" model create nosuchmodel -o "$W/x.tern"
expect 2 "$TERN" run "$W/x.tern"
expect 2 "$TERN" run "$W/x.tern" --random --repeat 0
expect 2 "$TERN" run "$W/x.tern" --random --repeat
expect 2 "$TERN" quantize "$W/x.tern" -o "$W/y.tern"
expect 2 "$TERN" quantize "$W/x.tern" -o "$W/y.tern" --to int3
grep -q "int3" "$W/err" || fail "usage error does not name the bad value"
[ -e "$W/x.tern" ] && fail "a usage error left a file behind"

# ---------------------------------------------------------------- devices
json_ok "$TERN" devices --json
[ "$("$JSON" "$W/out" devices.0.id)" = "cpu:0" ] || fail "devices: no cpu:0"
expect 0 "$TERN" devices

# ----------------------------------------------------------- model create
json_ok "$TERN" model list --json
[ "$("$JSON" "$W/out" models.4.name)" = "bitnet-block" ] || fail "model list"
for p in fp32 int8 ternary mixed; do
  json_ok "$TERN" model create mlp -o "$W/mlp-$p.tern" --precision $p --json
  [ -s "$W/mlp-$p.tern" ] || fail "mlp $p: no file"
done
json_ok "$TERN" inspect "$W/mlp-ternary.tern" --json
r=$("$JSON" "$W/out" compression.ratio) || fail "inspect: no ratio"
echo "mlp ternary (2-bit) compression vs fp32: ${r}x"
at_least "$r" 14 "mlp ternary compression"
fb=$("$JSON" "$W/out" compression.fp32_file_bytes)
real=$(wc -c <"$W/mlp-fp32.tern")
[ "$fb" -eq "$real" ] || fail "inspect fp32 size $fb != fp32 file $real"
[ "$("$JSON" "$W/out" metadata.model)" = mlp ] || fail "inspect metadata"
sp=$("$JSON" "$W/out" totals.ternary_sparsity)
at_least "$sp" 0.35 "ternary sparsity"
at_least 0.49 "$sp" "ternary sparsity"
expect 0 "$TERN" inspect "$W/mlp-mixed.tern"
grep -q "compression vs fp32" "$W/out" || fail "inspect text output"

json_ok "$TERN" model create bitnet-block --precision ternary -o "$W/bb2.tern" --json
json_ok "$TERN" model create bitnet-block --precision ternary --storage 1.58bit -o "$W/bb158.tern" --json
json_ok "$TERN" inspect "$W/bb2.tern" --json --no-layers
r2=$("$JSON" "$W/out" compression.ratio)
json_ok "$TERN" inspect "$W/bb158.tern" --json --no-layers
r158=$("$JSON" "$W/out" compression.ratio)
echo "bitnet-block (d=1024) ternary compression vs fp32: 2-bit ${r2}x, 1.58-bit ${r158}x"
at_least "$r2" 15.5 "bitnet-block 2-bit compression"
at_least "$r158" 19 "bitnet-block 1.58-bit compression"

# -------------------------------------------------------------------- run
json_ok "$TERN" run "$W/mlp-ternary.tern" --random --batch 4 --repeat 3 --json
[ "$("$JSON" "$W/out" outputs.0.finite)" = true ] || fail "run: non-finite"
[ "$("$JSON" "$W/out" outputs.0.shape.0)" = 4 ] || fail "run: batch 4"
"$JSON" "$W/out" outputs.0.top1.3 latency_ms.mean >/dev/null || fail "run: top1/latency"
# inputs from a raw f32 file, outputs to one
head -c 3136 /dev/zero >"$W/zeros.bin"
expect 0 "$TERN" run "$W/mlp-fp32.tern" --input "$W/zeros.bin" --output "$W/y2.bin"
[ "$(wc -c <"$W/y2.bin")" -eq 40 ] || fail "run --output size"
head -c 100 /dev/zero >"$W/short.bin"
expect 1 "$TERN" run "$W/mlp-fp32.tern" --input "$W/short.bin"
grep -q "3136" "$W/err" || fail "short input: message does not give the size"
expect 1 "$TERN" run "$W/mlp-fp32.tern" --random --backend nosuchdevice:7
expect 1 "$TERN" run "$W/mlp-fp32.tern" --random --backend cpu:9
expect 2 "$TERN" run "$W/mlp-fp32.tern" --random --backend cpu:
for m in lenet5 resnet-mini mobilenet-mini; do
  expect 0 "$TERN" model create $m --precision mixed -o "$W/$m.tern"
  json_ok "$TERN" run "$W/$m.tern" --random --json
  [ "$("$JSON" "$W/out" outputs.0.shape.1)" = 10 ] || fail "$m output"
done
expect 0 "$TERN" model create bitnet-block --width 128 --heads 2 --seq 4 -o "$W/bbs.tern"
json_ok "$TERN" run "$W/bbs.tern" --random --json
[ "$("$JSON" "$W/out" outputs.0.finite)" = true ] || fail "bitnet run"

# every other device (Vulkan, OpenCL when compiled and present) computes the
# ternary model bit for bit like the CPU
expect 0 "$TERN" run "$W/mlp-ternary.tern" --random --batch 3 -o "$W/cpu.bin"
"$TERN" devices --json >"$W/devices.json" 2>/dev/null
i=1
while dev=$("$JSON" "$W/devices.json" devices.$i.id 2>/dev/null); do
  expect 0 "$TERN" run "$W/mlp-ternary.tern" --random --batch 3 --backend "$dev" -o "$W/dev.bin"
  cmp -s "$W/cpu.bin" "$W/dev.bin" || fail "$dev: ternary mlp output differs from cpu:0"
  echo "ternary mlp on $dev: identical to cpu:0"
  i=$((i + 1))
done

# IDX evaluation on a tiny synthetic dataset (4 images, 28x28)
printf '\000\000\010\003\000\000\000\004\000\000\000\034\000\000\000\034' >"$W/img.idx"
head -c 3136 /dev/urandom >>"$W/img.idx"
printf '\000\000\010\001\000\000\000\004\001\002\003\004' >"$W/lbl.idx"
json_ok "$TERN" run "$W/lenet5.tern" --idx "$W/img.idx" --labels "$W/lbl.idx" --batch 3 --range 1:4 --json
[ "$("$JSON" "$W/out" samples)" = 3 ] || fail "idx: samples"
expect 2 "$TERN" run "$W/lenet5.tern" --idx "$W/img.idx" --labels "$W/lbl.idx" --range 3:9
printf '\000\000\010\001\000\000\000\005\001\002\003\004\005' >"$W/lbl5.idx"
expect 1 "$TERN" run "$W/lenet5.tern" --idx "$W/img.idx" --labels "$W/lbl5.idx"
expect 1 "$TERN" run "$W/mlp-fp32.tern" --idx "$W/zeros.bin" --labels "$W/lbl.idx"

# the real MNIST test split, gzipped, when the datasets folder is there
M=${TERN_MNIST_DIR:-}
if [ -n "$M" ] && [ -f "$M/t10k-images-idx3-ubyte.gz" ]; then
  json_ok "$TERN" run "$W/lenet5.tern" --idx "$M/t10k-images-idx3-ubyte.gz" \
    --labels "$M/t10k-labels-idx1-ubyte.gz" --range 8000:8200 --batch 50 --json
  [ "$("$JSON" "$W/out" samples)" = 200 ] || fail "mnist: samples"
  expect 1 "$TERN" run "$W/lenet5.tern" --idx "$M/t10k-labels-idx1-ubyte.gz" \
    --labels "$M/t10k-labels-idx1-ubyte.gz"
else
  echo "MNIST not found (TERN_MNIST_DIR): real-data --idx check skipped"
fi

# --------------------------------------------------------------- quantize
json_ok "$TERN" quantize "$W/mlp-fp32.tern" -o "$W/q-ternary.tern" --to ternary --json
[ "$("$JSON" "$W/out" layers.0.to)" = ternary ] || fail "quantize: layer 0"
at_least "$("$JSON" "$W/out" layers.1.sparsity)" 0.3 "quantize sparsity"
# the CLI's quantizer is the zoo's: same seed, same file size
[ "$(wc -c <"$W/q-ternary.tern")" -eq "$(wc -c <"$W/mlp-ternary.tern")" ] ||
  fail "quantize --to ternary differs in size from model create --precision ternary"
json_ok "$TERN" quantize "$W/mlp-fp32.tern" -o "$W/q-mixed.tern" --to mixed --json
[ "$("$JSON" "$W/out" layers.0.to)" = i8 ] || fail "mixed: first layer"
[ "$("$JSON" "$W/out" layers.1.to)" = ternary ] || fail "mixed: middle layer"
[ "$("$JSON" "$W/out" layers.2.to)" = i8 ] || fail "mixed: last layer"
expect 0 "$TERN" quantize "$W/mlp-fp32.tern" -o "$W/q-int8.tern" --to int8 --layer fc2=fp32
grep -q "kept" "$W/out" || fail "quantize: override to fp32 not kept"
json_ok "$TERN" run "$W/q-mixed.tern" --random --json
json_ok "$TERN" inspect "$W/q-int8.tern" --json
at_least "$("$JSON" "$W/out" compression.ratio)" 1.5 "int8 compression"

# supplied weights: a model built from another file's fp32 weights and
# quantized by the zoo computes what `tern quantize` of that file computes
expect 0 "$TERN" model create mlp --seed 9 -o "$W/w9.tern"
json_ok "$TERN" model create mlp --weights "$W/w9.tern" -p ternary -o "$W/w9t.tern" --json
[ "$("$JSON" "$W/out" supplied_parameters)" = 6 ] || fail "--weights: count"
expect 0 "$TERN" quantize "$W/w9.tern" --to ternary -o "$W/w9q.tern"
expect 0 "$TERN" run "$W/w9t.tern" --random --seed 3 --batch 2 -o "$W/o1.bin"
expect 0 "$TERN" run "$W/w9q.tern" --random --seed 3 --batch 2 -o "$W/o2.bin"
cmp -s "$W/o1.bin" "$W/o2.bin" || fail "--weights + ternary != quantize"
expect 0 "$TERN" run "$W/mlp-ternary.tern" --random --seed 3 --batch 2 -o "$W/o3.bin"
cmp -s "$W/o1.bin" "$W/o3.bin" && fail "--weights were ignored"
expect 1 "$TERN" model create lenet5 --weights "$W/w9.tern" -o "$W/l.tern"
grep -q "fc1.weight" "$W/err" || fail "--weights shape mismatch message"

# ---------------------------------------------------------- corrupt files
for f in trunc flip garbage empty; do
  case $f in
  trunc) head -c 500 "$W/mlp-ternary.tern" >"$W/bad.tern" ;;
  flip)
    cp "$W/mlp-ternary.tern" "$W/bad.tern"
    printf '\377\377\377\377' | dd of="$W/bad.tern" bs=1 seek=2000 conv=notrunc 2>/dev/null
    ;;
  garbage) head -c 4096 /dev/urandom >"$W/bad.tern" ;;
  empty) : >"$W/bad.tern" ;;
  esac
  for c in inspect run quantize; do
    case $c in
    inspect) expect 1 "$TERN" inspect "$W/bad.tern" ;;
    run) expect 1 "$TERN" run "$W/bad.tern" --random ;;
    quantize) expect 1 "$TERN" quantize "$W/bad.tern" -o "$W/never.tern" --to int8 ;;
    esac
    [ -s "$W/err" ] || fail "$c on $f file: no message on stderr"
    [ -s "$W/out" ] && fail "$c on $f file: wrote to stdout"
  done
done
[ -e "$W/never.tern" ] && fail "quantize of a corrupt file wrote output"
expect 1 "$TERN" inspect "$W/does-not-exist.tern"
expect 1 "$TERN" model create mlp -o "$W/no/such/dir/x.tern"

# tune --model: a missing or corrupt model is an error naming the file (exit
# 1, nothing tuned); on the CPU a model tunes nothing (linear_q is not what
# sessions run) and the database stays unwritten
expect 0 "$TERN" tune --help
grep -q -- "--model FILE" "$W/out" || fail "tune --help lacks --model"
expect 1 "$TERN" tune --device cpu:0 --model "$W/does-not-exist.tern" \
  --tuning-db "$W/tune.json"
grep -q "does-not-exist.tern" "$W/err" || fail "tune --model: file not named"
printf 'TERN\001garbage' >"$W/corrupt.tern"
expect 1 "$TERN" tune --device cpu:0 --model "$W/corrupt.tern" \
  --tuning-db "$W/tune.json"
grep -q "corrupt.tern" "$W/err" || fail "tune --model: corrupt file not named"
expect 2 "$TERN" tune list --model "$W/corrupt.tern" --tuning-db "$W/tune.json"
expect 0 "$TERN" model create lenet5 -p int8 -o "$W/lenet.tern"
expect 0 "$TERN" tune --device cpu:0 --model "$W/lenet.tern" --budget 1 \
  --tuning-db "$W/tune.json"
[ ! -e "$W/tune.json" ] || fail "tune --model on the CPU wrote entries"

if [ "$fails" -ne 0 ]; then
  echo "$fails CLI check(s) failed" >&2
  exit 1
fi
echo "all CLI checks passed"
