#!/bin/bash
# usage: tools/semi_valid.sh [WORKTREE]  (PYTHON=<interpreter>; one study per setting, in order)
# Issue 34's validation choices: seeds 0-2, 40%, standard protocol; validation numbers only.
# Run from the worktree at a fixed commit; every setting its own study (run-id sv-<arm>-<value>).
set -u
WT=$(cd "${1:-.}" && pwd)
cd $WT
PY=${PYTHON:-python}
export PYTHONPATH=$WT OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
one() {  # run-id variant key=value...
  rid=$1; var=$2; shift 2
  echo "=== $(date -u +%H:%M:%S) $rid"
  $PY -m mosi_lib study --only 07_ablations --seeds 0 1 2 --variants $var --modality-sets --protocols \
      --run-id $rid --set system.num_threads=1 data.labeled_fraction=0.4 "$@"
  echo "=== $(date -u +%H:%M:%S) $rid done rc=$?"
}
one sv-st-1.0 self_training semi.pseudo_rounds=2 semi.pseudo_min_score=1.0
one sv-mt-1 mean_teacher semi.mt_consistency_weight=1
one sv-cmc-0.07 cmc_train_rows semi.cmc_temperature=0.07
one sv-mt-10 mean_teacher semi.mt_consistency_weight=10
one sv-cmc-0.2 cmc_train_rows semi.cmc_temperature=0.2
one sv-st-0.5 self_training semi.pseudo_rounds=2 semi.pseudo_min_score=0.5
one sv-mt-100 mean_teacher semi.mt_consistency_weight=100
one sv-st-1.5 self_training semi.pseudo_rounds=2 semi.pseudo_min_score=1.5
# CMC's budget by its held-out contrastive loss: in sv-cmc-0.07 it is lowest after 1-2 epochs
# (4.65-4.69 against a chance level of ln 128 = 4.85) and rises after (about 6.9 at epoch 100)
one sv-cmcep-2 cmc_train_rows semi.cmc_epochs=2
