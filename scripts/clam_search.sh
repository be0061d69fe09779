#!/usr/bin/env bash
# The ClAM paper's hyperparameter selection as an Optuna study (conf/experiment/clam_search.yaml:
# the paper grid's ranges, 500 TPE trials, the whole-table silhouette) against the grid itself,
# on the tables whose published files are in DATA_DIR (zoo, ecoli, movement_libras, yale).
#
#   scripts/clam_search.sh DATA_DIR OUT_DIR [--grid] [overrides for every study...]
#
# Per dataset: the study in OUT_DIR/search/DATASET, its report (trials by state, best trial) in
# OUT_DIR/search/DATASET/table.md and the objective by trial in table_study.png. --grid also
# runs ClAM's paper grid alone (2016 settings a table, the CLAM_GRID and CLAM_MASK of
# reproduce_clam_tables.sh --budget paper, which runs them with its ablations and baselines)
# in OUT_DIR/grid/DATASET, with its best setting by silhouette (empty clusters set aside, as in
# the study) in OUT_DIR/grid/DATASET/table.md. Wall times: OUT_DIR/times.tsv; a study or grid
# listed there is not launched again, and one whose directory exists without a time (a stopped
# launch) is left as it is. To add trials to a study, launch it yourself with
# hydra.sweep.dir=OUT_DIR/search/DATASET (each launch adds n_trials).
# LAUNCHER: local (joblib, 2 jobs: the default), basic or slurm.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${1:?usage: scripts/clam_search.sh DATA_DIR OUT_DIR [--grid] [overrides...]}
OUT_DIR=${2:?usage: scripts/clam_search.sh DATA_DIR OUT_DIR [--grid] [overrides...]}
shift 2
GRID=
if [[ $# -gt 0 && "$1" == --grid ]]; then GRID=yes; shift; fi
LAUNCHER=${LAUNCHER:-local}
DIFFCLUST=${DIFFCLUST:-.venv/bin/diffclust}
DATA_DIR=$(cd "$DATA_DIR" && pwd)
mkdir -p "$OUT_DIR"

declare -A FILES=([zoo]=zoo.csv [ecoli]=ecoli.data [movement_libras]=movement_libras.csv [yale]=Yale.mat)
timed() {  # timed NAME DIR COMMAND...: runs COMMAND unless DIR exists, appends its wall time
  local name=$1 dir=$2 start
  shift 2
  if grep -qx "$name"$'\t'"[0-9]*" "$OUT_DIR/times.tsv" 2>/dev/null; then
    echo "$name finished earlier: not launched again"; return
  fi
  if [[ -e "$dir" ]]; then  # a launch that was stopped: its runs are kept, not mixed in
    echo "$dir holds an unfinished launch: move it away to run $name again"; return
  fi
  start=$(date +%s)
  "$@" || echo "$name: some jobs failed; see the tables"
  printf '%s\t%s\n' "$name" "$(($(date +%s) - start))" >> "$OUT_DIR/times.tsv"
}

for dataset in zoo ecoli movement_libras yale; do
  [[ -f "$DATA_DIR/${FILES[$dataset]}" ]] || continue
  common=("dataset=$dataset" "dataset.data_dir=$DATA_DIR" "hydra/launcher=$LAUNCHER")
  search=$OUT_DIR/search/$dataset
  timed "search/$dataset" "$search" "$DIFFCLUST" train -m +experiment=clam_search "${common[@]}" \
    "hydra.sweep.dir=$search" "$@"
  "$DIFFCLUST" tables "$search" --study > /dev/null
  head -2 "$search/table.md"
  if [[ -n "$GRID" ]]; then
    grid=$OUT_DIR/grid/$dataset
    timed "grid/$dataset" "$grid" "$DIFFCLUST" train -m +experiment=clam "${common[@]}" \
      "hydra.sweep.dir=$grid" quiet=true train.pictures=false \
      head.beta=0.001,0.01,0.03,0.1,0.3,1.0,2.5 head.lr=0.01,0.1 head.steps=5,10,20 \
      head.alpha=null,0.4 head.init=normal,kmeans++ head.batch_size=8,128 head.epochs=200 \
      head.restarts=10 head.mask_prob=0.1,0.15,0.2 head.mask_value=mean,max
    "$DIFFCLUST" tables "$grid" --select test.silhouette --metric test.silhouette > /dev/null
    sed -n '/^| n /,+2p;/^Selected by/,+1p' "$grid/table.md"  # the best setting's silhouette
  fi
done
cat "$OUT_DIR/times.tsv"
"$(dirname "$DIFFCLUST")/python" scripts/clam_search_report.py "$OUT_DIR" || true  # grid against study, per table
