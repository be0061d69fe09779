#!/usr/bin/env bash
# The OT deep-clustering paper's Table 1 (METHODS.md §2): k-means on raw pixels, AE + k-means,
# soft k-means, soft k-means (p), OT, OT (p), over seeds; then the table of unsupervised
# accuracy / NMI / ARI with mean ± std and [min, max], and Welch's t-test p-values between
# OT and soft k-means (with and without pre-training), in $SWEEP/table.{md,csv}.
#
#   scripts/reproduce_ot_table.sh                              # MNIST, 5 seeds, 200 epochs
#   DATASET=fashion_mnist SEEDS=0,1 STEPS=1000 PRETRAIN_STEPS=500 \
#     scripts/reproduce_ot_table.sh                            # a reduced budget
#   SEEDS=$(seq -s, 0 49) LAUNCHER=slurm scripts/reproduce_ot_table.sh  # the paper's 50 runs
#
# STEPS / PRETRAIN_STEPS replace the experiments' budgets (the (p) runs train PRETRAIN_STEPS
# more); extra arguments are passed to every training run (e.g. dataset.data_dir=DIR).
# LAUNCHER: basic (one job after another), local (joblib, parallel) or slurm.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-mnist}
SEEDS=${SEEDS:-0,1,2,3,4}
LAUNCHER=${LAUNCHER:-basic}
SWEEP=${SWEEP:-outputs/sweeps/ot_table_${DATASET}_$(date +%Y%m%d-%H%M%S)}
DIFFCLUST=${DIFFCLUST:-.venv/bin/diffclust}

budget() {  # the overrides of one column's step budget
  local pretrain=$1
  if [[ -z "${STEPS:-}" ]]; then return; fi
  if [[ "$pretrain" == 1 ]]; then
    local p=${PRETRAIN_STEPS:?set PRETRAIN_STEPS with STEPS}
    echo "train.steps=$((STEPS + p)) train.pretrain_steps=$p train.eval_every=$(((STEPS + p) / 4))"
  else
    echo "train.steps=$STEPS train.eval_every=$((STEPS / 4))"
  fi
}

run() {  # run EXPERIMENT [overrides...]: one column over the seeds
  local experiment=$1
  shift
  # A failed job does not stop the others: it leaves error.txt and is listed by the table.
  "$DIFFCLUST" train -m "+experiment=${DATASET}_${experiment}" "seed=${SEEDS}" \
    "hydra/launcher=${LAUNCHER}" "hydra.sweep.dir=${SWEEP}/${experiment}" quiet=true "$@" \
    || echo "some ${experiment} jobs failed; they are listed in the table"
}

run kmeans "$@"
# shellcheck disable=SC2046  # budget prints separate overrides
run ae_kmeans $(budget 0) "$@"
for head in softkmeans ot; do
  # shellcheck disable=SC2046
  run "$head" $(budget 0) "$@"
  # shellcheck disable=SC2046
  run "${head}_pretrain" $(budget 1) "$@"
done
"$DIFFCLUST" tables "$SWEEP" --by backbone.name head.name train.pretrain_steps \
  --metric test.accuracy test.nmi test.ari --range --welch head.name=ot head.name=soft_kmeans
