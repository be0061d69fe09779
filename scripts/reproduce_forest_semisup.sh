#!/usr/bin/env bash
# The forest paper's semi-supervised grid (§11.2): n_labelled x k_withheld x {partial-loss
# forest, cross-entropy baseline} x seeds, then the table of clustering and probe errors and
# the figure (probe error against n_labelled, ours vs baseline: the paper's Figure 4) in
# $SWEEP/table.{md,csv,png}.
#
#   scripts/reproduce_forest_semisup.sh                       # the paper's grid, Fashion-MNIST
#   DATASET=mnist SEEDS=0,1,2,3,4 scripts/reproduce_forest_semisup.sh
#   N_LABELLED=250,5000 K_WITHHELD=0 SEEDS=0,1 LAUNCHER=local \
#     scripts/reproduce_forest_semisup.sh train.steps=500     # a reduced grid; extra overrides
#
# LAUNCHER: basic (one job after another), local (joblib, parallel) or slurm.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-fashion_mnist}
N_LABELLED=${N_LABELLED:-250,1000,5000}
K_WITHHELD=${K_WITHHELD:-0,3,6}
SEEDS=${SEEDS:-0,1,2,3,4}
LAUNCHER=${LAUNCHER:-basic}
SWEEP=${SWEEP:-outputs/sweeps/forest_semisup_${DATASET}_$(date +%Y%m%d-%H%M%S)}
DIFFCLUST=${DIFFCLUST:-.venv/bin/diffclust}

for variant in semi semi_baseline; do
  # A failed job does not stop the grid: it leaves error.txt and is listed by the table.
  "$DIFFCLUST" train -m "+experiment=${DATASET}_${variant}" \
    "split.n_labelled=${N_LABELLED}" "split.k_withheld=${K_WITHHELD}" "seed=${SEEDS}" \
    "hydra/launcher=${LAUNCHER}" "hydra.sweep.dir=${SWEEP}/${variant}" quiet=true "$@" \
    || echo "some ${variant} jobs failed; they are listed in the table"
done
"$DIFFCLUST" tables "$SWEEP" --by head.name split.n_labelled split.k_withheld \
  --metric probe.test_error test.clustering_error --plot split.n_labelled
