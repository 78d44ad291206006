#!/bin/sh
# train_pipeline.sh — the full training pipeline behind docs/TRAINING.md:
# for each model (mlp, lenet5) and seed: fp32 training, INT8 PTQ, ternary PTQ
# (plain, and with BN re-estimation + bias correction), ternary QAT (all
# layers; first/last kept int8) and ternary distillation (teacher = the fp32
# model; same steps as QAT for the A/B). Real MNIST, train 0..7999, test
# 8000..9999. Every run appends a row to OUT/results.csv.
#
#   scripts/train_pipeline.sh BUILD_DIR OUT_DIR "1 2 3" [THREADS]
set -eu
TERN=${1:-build}/tern
OUT=${2:-pipeline}
SEEDS=${3:-1}
J=${4:-2}
FP_STEPS=${FP_STEPS:-2000}
Q_STEPS=${Q_STEPS:-1500}
mkdir -p "$OUT"
CSV="$OUT/results.csv"
COMMON="--data mnist -j $J --csv $CSV -q"
for seed in $SEEDS; do
  for model in mlp lenet5; do
    fp="$OUT/${model}_fp32_s$seed.tern"
    "$TERN" train --model $model --steps $FP_STEPS --seed $seed -o "$fp" $COMMON
    "$TERN" ptq --init "$fp" --precision all=i8 --no-bn-reest --no-bias-corr \
      --seed $seed $COMMON
    "$TERN" ptq --init "$fp" --precision all=t,first=f32,last=f32 \
      --no-bn-reest --no-bias-corr --seed $seed $COMMON
    "$TERN" ptq --init "$fp" --precision all=t,first=f32,last=f32 \
      --seed $seed -o "$OUT/${model}_ptq_t_s$seed.tern" $COMMON
    "$TERN" qat --init "$fp" --precision all=t --steps $Q_STEPS --seed $seed \
      -o "$OUT/${model}_qat_t_s$seed.tern" $COMMON
    "$TERN" qat --init "$fp" --precision all=t,first=i8,last=i8 \
      --steps $Q_STEPS --seed $seed -o "$OUT/${model}_qat_fl_s$seed.tern" $COMMON
    "$TERN" distill --teacher "$fp" --precision all=t --steps $Q_STEPS \
      --seed $seed -o "$OUT/${model}_kd_t_s$seed.tern" $COMMON
  done
done
# mean accuracy per (model, mode) over the seeds
awk -F, 'NR > 1 { k = $6 "," $1; s[k] += $2; n[k]++ }
  END { for (k in s) printf "%s,%.2f,%d\n", k, s[k] / n[k], n[k] }' "$CSV" |
  sort > "$OUT/summary.csv"
cat "$OUT/summary.csv"
