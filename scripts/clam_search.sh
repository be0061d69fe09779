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
# listed there is not launched again. A stopped grid or study continues where it stopped (a
# grid with resume=true, a study up to its max_trials, the trials it left running told; on
# another machine after `reproduce.py unpack`); its wall time adds the stopped segments, each
# up to the last file it wrote. `touch OUT_DIR/search/DATASET/STOP` stops a study gracefully:
# its workers ask no more trials and finish those under way, and the script ends without
# recording a time; launched again, it removes STOP and continues. To add trials to a
# finished study, launch it yourself with hydra.sweep.dir=OUT_DIR/search/DATASET and a
# larger hydra.sweeper.max_trials.
# LAUNCHER: local (joblib, 2 jobs: the default), basic or slurm. With local the study runs as
# STUDY_WORKERS (2) launches sharing its journal, each one trial at a time (hydra/launcher=basic,
# sampler seed 0, 1, ...): none waits for the slower trial of a batch, as a joblib batch of 2
# does (each of its workers busy about 74% of the time on Movement Libras). CLAM_GRID_ARGS:
# overrides that replace the paper grid's (a quick check: "head.beta=0.1,1.0 head.epochs=3").
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${1:?usage: scripts/clam_search.sh DATA_DIR OUT_DIR [--grid] [overrides...]}
OUT_DIR=${2:?usage: scripts/clam_search.sh DATA_DIR OUT_DIR [--grid] [overrides...]}
shift 2
GRID=
if [[ $# -gt 0 && "$1" == --grid ]]; then GRID=yes; shift; fi
LAUNCHER=${LAUNCHER:-local}
STUDY_WORKERS=${STUDY_WORKERS:-2}
DIFFCLUST=${DIFFCLUST:-.venv/bin/diffclust}
DATA_DIR=$(cd "$DATA_DIR" && pwd)
mkdir -p "$OUT_DIR"

# The paper grid (CLAM_GRID_ARGS replaces it, e.g. for a quick check of the script).
read -ra GRID_ARGS <<< "${CLAM_GRID_ARGS:-head.beta=0.001,0.01,0.03,0.1,0.3,1.0,2.5 \
head.lr=0.01,0.1 head.steps=5,10,20 head.alpha=null,0.4 head.init=normal,kmeans++ \
head.batch_size=8,128 head.epochs=200 head.restarts=10 head.mask_prob=0.1,0.15,0.2 \
head.mask_value=mean,max}"

declare -A FILES=([zoo]=zoo.csv [ecoli]=ecoli.data [movement_libras]=movement_libras.csv [yale]=Yale.mat)
timed() {  # timed NAME DIR COMMAND...: runs COMMAND, appends its wall time to times.tsv
  local name=$1 dir=$2 start began last extra=()
  shift 2
  if grep -q "^$name"$'\t' "$OUT_DIR/times.tsv" 2>/dev/null; then
    echo "$name finished earlier: not launched again"; return
  fi
  if [[ -e "$dir" ]]; then  # a stopped launch
    # A grid continues (resume=true: finished jobs kept, the rest run), a study up to its
    # max_trials. The stopped segment counts from its start to the last file it wrote.
    began=$(awk -F'\t' -v n="$name" '$1 == n {t = $2} END {print t}' "$OUT_DIR/starts.tsv" \
      2>/dev/null || true)
    last=$(find "$dir" -type f -printf '%T@\n' | sort -n | tail -1)
    if [[ -n $began && -n $last ]]; then
      printf '%s\t%s\n' "$name" "$((${last%.*} - began))" >> "$OUT_DIR/stopped.tsv"
    else
      echo "$name: the stopped segment's start is not recorded; its time is not counted"
    fi
    rm -f "$dir/STOP"  # a study stopped gracefully: this launch is the go-ahead
    if [[ $name == grid/* ]]; then
      echo "$name: continuing the stopped grid in $dir"; extra=(resume=true)
    else
      echo "$name: continuing the stopped study in $dir"
    fi
  fi
  start=$(date +%s)
  printf '%s\t%s\n' "$name" "$start" >> "$OUT_DIR/starts.tsv"
  "$@" "${extra[@]}" || echo "$name: some jobs failed; see the tables"
  if [[ -e "$dir/STOP" ]]; then  # the next launch counts this segment, as a killed one's
    echo "$name: stopped by $dir/STOP; run the script again to continue"; exit 0
  fi
  local stopped  # the earlier segments of this launch
  stopped=$(awk -F'\t' -v n="$name" '$1 == n {t += $2} END {print t + 0}' \
    "$OUT_DIR/stopped.tsv" 2>/dev/null || echo 0)
  printf '%s\t%s\n' "$name" "$(($(date +%s) - start + stopped))" >> "$OUT_DIR/times.tsv"
}

workers() {  # workers COMMAND...: the study's launch (STUDY_WORKERS of them with LAUNCHER=local)
  if [[ $LAUNCHER != local ]]; then "$@" "hydra/launcher=$LAUNCHER"; return; fi
  local i pids=() failed=0
  for ((i = 0; i < STUDY_WORKERS; i++)); do
    "$@" hydra/launcher=basic "hydra.sweeper.seed=$i" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  return $failed
}

for dataset in zoo ecoli movement_libras yale; do
  [[ -f "$DATA_DIR/${FILES[$dataset]}" ]] || continue
  common=("dataset=$dataset" "dataset.data_dir=$DATA_DIR")
  search=$OUT_DIR/search/$dataset
  timed "search/$dataset" "$search" workers "$DIFFCLUST" train -m +experiment=clam_search \
    "${common[@]}" "hydra.sweep.dir=$search" "$@"
  if "$DIFFCLUST" tables "$search" --study > /dev/null; then head -2 "$search/table.md"; fi
  if [[ -n "$GRID" ]]; then
    grid=$OUT_DIR/grid/$dataset
    timed "grid/$dataset" "$grid" "$DIFFCLUST" train -m +experiment=clam "${common[@]}" \
      "hydra/launcher=$LAUNCHER" hydra/sweeper=grid "hydra.sweep.dir=$grid" quiet=true train.pictures=false "${GRID_ARGS[@]}"
    if "$DIFFCLUST" tables "$grid" --select test.silhouette --metric test.silhouette > /dev/null
    then sed -n '/^| n /,+2p;/^Selected by/,+1p' "$grid/table.md"  # the best silhouette
    fi
  fi
done
cat "$OUT_DIR/times.tsv"
"$(dirname "$DIFFCLUST")/python" scripts/clam_search_report.py "$OUT_DIR/search" "$OUT_DIR/grid" \
  --out "$OUT_DIR/report.md" || true  # grid against study, per table
