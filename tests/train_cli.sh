#!/bin/sh
# train_cli.sh — `tern train|qat|distill|ptq` end to end on small synthetic
# data: exports verified in a tern session, CSV rows, --json, usage errors,
# and an interrupted run (SIGINT) resumed to the same model as an
# uninterrupted one.   train_cli.sh TERN WORKDIR
set -eu
TERN=$1
W=$2
rm -rf "$W"
mkdir -p "$W"
cd "$W"
# until tools/commands.h lists the training commands there is nothing to test
if ! "$TERN" train --help > /dev/null 2>&1; then
  echo "train_cli: 'tern train' is not in the command table: skipped"
  exit 77
fi
D="--synth-train 1000 --synth-test 500 -j 2"
"$TERN" train --steps 150 $D -o fp.tern --csv r.csv -q
"$TERN" qat --init fp.tern --steps 80 $D -o t.tern --csv r.csv --json > qat.json
grep -q '"exported_accuracy"' qat.json
grep -q '"mode":"qat"' qat.json
"$TERN" ptq --init fp.tern --precision all=t,first=f32,last=f32 --calib 300 \
  $D --csv r.csv --json > ptq.json
grep -q '"layers":\[' ptq.json
"$TERN" distill --teacher fp.tern --steps 60 $D --csv r.csv -q
test "$(wc -l < r.csv)" -eq 5
head -1 r.csv |
  grep -q '^mode,accuracy,loss,latency_s,bytes,model,dataset,split,seed,epochs,sparsity,backend$'
# usage errors exit 2, failures 1
set +e
"$TERN" distill $D > /dev/null 2>&1; test $? -eq 2 || exit 1
"$TERN" ptq --precision t $D > /dev/null 2>&1; test $? -eq 2 || exit 1
"$TERN" train --data mnist --data-dir /nonexistent > /dev/null 2>&1
test $? -eq 1 || exit 1
set -e
# an uninterrupted run ...
"$TERN" train --steps 400 $D -o a.tern --no-verify -q
# ... and the same run interrupted by SIGINT, then resumed
"$TERN" train --steps 400 $D -o b.tern --no-verify --ckpt-every 20 -q &
pid=$!
sleep 1
kill -INT $pid 2> /dev/null || true
wait $pid || true
"$TERN" train --steps 400 $D -o b.tern --no-verify --resume -q
cmp a.tern b.tern
echo "train_cli: ok"
