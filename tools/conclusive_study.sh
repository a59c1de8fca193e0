#!/usr/bin/env bash
# The conclusive study of DEC (issue "A conclusive answer"), batch by batch, and its tables.
#
#   tools/conclusive_study.sh SHARE FIRST LAST [BATCH]     e.g. tools/conclusive_study.sh 0.4 0 19
#   tools/conclusive_study.sh tables                        the tables from the committed batches
#
# Runs the pretraining ablation (notebook 07) of the quick profile, standard protocol, on five
# arms paired by seed: none (from scratch), ae and dec_semi (the autoencoder and the paper's DEC,
# pretrained on every segment's features: transductive), ae_train_rows and dec_train_rows (the
# same on the training fold's features only: inductive). Seeds FIRST..LAST in batches of BATCH
# (default 4, one worker process per seed, one thread each), into the study runs/conclusive<NN>
# (NN = SHARE in %), which resumes: a finished run is reused, never trained twice; one stage 1 per
# seed and row set serves every share (system.share_stage1). After each batch, its per-run
# records go to docs/results/conclusive<NN>_s<first>-<last>_{runs.csv,predictions.csv.gz,runs.json}
# (tools/run_records.py --seeds), and the tables are recomputed from every batch file there:
# conclusive_arms.csv (tools/arm_table.py) and conclusive_family.csv (tools/family_table.py),
# drawn as figures/readme/conclusive_family.png (tools/family_plot.py) and
# figures/readme/conclusive_arms.png (tools/arm_plot.py).
# Commit those files after each batch: run folders stay on the machine that ran them.
#
# Run it from its own git worktree at a fixed commit, in the background, for example
#   git worktree add --detach ../wt-conclusive HEAD && cd ../wt-conclusive &&
#   nohup nice -n 1 tools/conclusive_study.sh 0.4 0 19 > conclusive40.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
VARIANTS="none ae dec_semi ae_train_rows dec_train_rows"
ARMS=(--arm "scratch=tag=pretrain:none" --arm "ae=tag=pretrain:ae" --arm "dec=tag=pretrain:dec_semi"
      --arm "ae_inductive=tag=pretrain:ae_train_rows" --arm "dec_inductive=tag=pretrain:dec_train_rows")
COMPARE=(dec-scratch ae-scratch dec-ae dec_inductive-scratch ae_inductive-scratch
         dec-dec_inductive ae-ae_inductive)

tables() {  # every batch file under docs/results/ -> the arm and family tables
  mapfile -t stems < <(ls docs/results/conclusive*_s*_runs.csv 2>/dev/null | sed 's/_runs\.csv$//')
  [ ${#stems[@]} -gt 0 ] || { echo "no batch records under docs/results/" >&2; return 1; }
  $PY tools/arm_table.py "${stems[@]}" "${ARMS[@]}" --out docs/results/conclusive_arms.csv
  $PY tools/family_table.py "${stems[@]}" "${ARMS[@]}" --compare "${COMPARE[@]}" \
      --out docs/results/conclusive_family.csv
  $PY tools/family_plot.py docs/results/conclusive_family.csv \
      --out figures/readme/conclusive_family.png \
      --title "DEC and the autoencoder against scratch, paired by seed (standard protocol)"
  $PY tools/arm_plot.py docs/results/conclusive_arms.csv --out figures/readme/conclusive_arms.png \
      --title "Every arm by labeled share (standard protocol, test fold)"
}

if [ "${1:-}" = tables ]; then tables; exit; fi
SHARE=$1; FIRST=$2; LAST=$3; BATCH=${4:-4}
NN=$($PY -c "print(round(100 * float('$SHARE')))")
for ((a = FIRST; a <= LAST; a += BATCH)); do
  b=$((a + BATCH - 1 < LAST ? a + BATCH - 1 : LAST))
  seeds=$(seq -s ' ' $a $b)
  cmd="python -m mosi_lib study --only 07_ablations --seeds $seeds --variants $VARIANTS --modality-sets --protocols --run-id conclusive$NN --set system.num_threads=1 data.labeled_fraction=$SHARE"
  echo "=== $(date -u +%FT%TZ) $cmd"
  $PY ${cmd#python }
  stem=$(printf "docs/results/conclusive%s_s%02d-%02d" "$NN" "$a" "$b")
  $PY tools/run_records.py runs/conclusive$NN-ablations --seeds $seeds --out "$stem" --command "$cmd"
  tables
  echo "=== $(date -u +%FT%TZ) batch $a-$b done: commit $stem_* and docs/results/conclusive_{arms,family}.*"
done
