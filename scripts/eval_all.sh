#!/usr/bin/env bash
# The exact commands behind docs/results.md: import the four development datasets into one evaluation database
# (outside git), run every method on each under LLMRank-20, tune the fusion on validation targets, rerun the test
# with the tuned settings, and run full ranking on ml-100k.
# Usage: scripts/eval_all.sh [step ...]   (no step: all of them, in the order of STEPS below)
# Reruns are cheap: LM pair scores are cached in the database, so only missing pairs are computed.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${EVAL_DB:-data/eval.db}
OUT=docs/results
PY="nice ${PYTHON:-.venv/bin/python} -m recsys"
# LLMRank's negatives (uniform over all items but the target), so the tables stand beside the published figures;
# the prior of each run counts only the interactions before its split's targets.
EVAL="$PY evaluate --db $DB --seed 0 --threads ${THREADS:-1} --negatives llmrank"
DEFAULTS_TUNED="ScoringConfig defaults; their alpha 0.25 was chosen on the ml-100k and lastfm validation targets \
(docs/lm-experiments.md), nothing else on any evaluation data"
DATASETS=${DATASETS:-"ml-100k ml-latest-small lastfm amazon-scientific"}

step_import() {
  for d in $DATASETS; do $PY import shared "$d" --db "$DB" --quiet; done
}

# Which users: the first 500 in user order; lastfm's test rows are sliding windows of 122 listening streams, so
# the first 500 rows would cover ~22 of them while a seeded sample of 500 covers nearly all.
# Amazon item texts ("title. categories. brand.") average 45 LM tokens at the default budget of 48, four times a
# movie title: ~20 h for 500 users on the shared 2-core CPU, so the LM reads their first 24 tokens (mostly the
# title); step amazon-48 measures what the cut costs on the first 100 users.
users() {  # dataset, how many
  case $1 in
    lastfm) echo "--sample-users $2" ;;
    amazon-scientific) echo "--limit-users $2 --max-item-tokens 24" ;;
    *) echo "--limit-users $2" ;;
  esac
}

# LLMRank-20 on the test targets, every method (random, pop, bm25, embed, embed+pop, all 16 LM variants, fused)
# with the ScoringConfig defaults (α = 0.25, chosen on the ml-100k and lastfm validation targets, see
# docs/lm-experiments.md), plus `fused/alpha=1`, the default before that choice.
llmrank() {  # dataset [users]
  $EVAL --dataset "$1" --protocol llmrank20 --methods all,fused/alpha=1 $(users "$1" "${2:-500}") \
    --tuned "$DEFAULTS_TUNED" --json "$OUT/$1-llmrank20.json" --report "$OUT/$1-llmrank20.md"
}
step_ml-100k() { llmrank ml-100k; }
step_ml-latest-small() { llmrank ml-latest-small; }
step_lastfm() { llmrank lastfm; }
# amazon-scientific costs four times a movie user in LM time (about 14 s per user on the loaded 2-core CPU).
step_amazon-scientific() { llmrank amazon-scientific; }
step_amazon-48() {
  $EVAL --tuned "$DEFAULTS_TUNED" --dataset amazon-scientific --protocol llmrank20 --methods all,fused/alpha=1 --limit-users 100 \
    --json "$OUT/amazon-scientific-llmrank20-100u-48tok.json" --report "$OUT/amazon-scientific-llmrank20-100u-48tok.md"
}

# Tuning on the validation targets (the item before the test target; lastfm/amazon: the valid rows), 150 users:
# every method with the defaults, then a grid over the fusion (LM pairs cached, so the grid costs no LM work).
GRID="alpha=0,0.1,0.25,0.5,1 beta=0.5,1,2,4 lam=0.25,0.5,1,2 calibration=raw,pmi fusion=product,mixture max_history=3,5"
valid() {
  mkdir -p "$OUT/valid"
  $EVAL --tuned "$DEFAULTS_TUNED" --dataset "$1" --split valid --methods all $(users "$1" 150) --no-curves \
    --json "$OUT/valid/$1-llmrank20-valid.json" --report "$OUT/valid/$1-llmrank20-valid.md"
  $EVAL --dataset "$1" --split valid --methods fused,embed+pop $(users "$1" 150) --grid "$GRID" --quiet \
    --json "$OUT/valid/$1-grid.json" > "$OUT/valid/$1-grid.md"
}
step_valid-ml-100k() { valid ml-100k; }
step_valid-ml-latest-small() { valid ml-latest-small; }
step_valid-lastfm() { valid lastfm; }
step_valid-amazon-scientific() { valid amazon-scientific; }

# The test targets again (every LM pair cached), with the settings the grid chose on the validation targets:
# the best point (`fused/...`) against the best point without the LM term (`embed+pop/...`), same users.
tuned() {
  $EVAL --tuned "$DEFAULTS_TUNED" --dataset "$1" --protocol llmrank20 --methods pop,embed+pop,fused $(users "$1" 500) \
    --tuned-from "$OUT/valid/$1-grid.json" --json "$OUT/$1-llmrank20-tuned.json" --report "$OUT/$1-llmrank20-tuned.md"
}
step_tuned() {  # every dataset with a validation grid
  for d in $DATASETS; do [ -f "$OUT/valid/$d-grid.json" ] && tuned "$d"; done; true
}

# Full ranking: retrieval (50 nearest by embedding + 5 popular) re-ranked; single-signal baselines rank everything.
step_full() {
  $EVAL --tuned "$DEFAULTS_TUNED" --dataset ml-100k --protocol full --limit-users 100 --methods all,fused/alpha=1 \
    --json "$OUT/ml-100k-full.json" --report "$OUT/ml-100k-full.md"
}

# Gemma 3 270M instead of SmolLM2-135M on the first 100 ml-100k validation users, and SmolLM2 on the same users.
GEMMA_METHODS=pop,embed+pop,lm-raw-product,lm-raw-mixture,lm-pmi-product,lm-pmi-mixture,lm+pop,lm-raw-product+pop,\
fused,fused/alpha=1,fused/calibration=raw,fused/calibration=raw/alpha=1
compare_models() {  # report name, then the evaluate options that pick dataset, split and users
  local name=$1; shift
  for m in gemma3-270m smollm2-135m; do
    $EVAL --tuned "$DEFAULTS_TUNED" --model "$m" --methods "$GEMMA_METHODS" --no-curves "$@" \
      --json "$OUT/$name-$m.json" --report "$OUT/$name-$m.md"
  done
}
step_gemma() { compare_models valid/ml-100k-valid-100u --dataset ml-100k --split valid --limit-users 100; }

# Contextual calibration: the per-item LM term calibrated against content-free history items ("N/A",
# "[MASK]", "") in the template instead of the ∅ prompt, on the validation users of docs/lm-experiments.md.
CC_METHODS=pop,embed+pop,mix:pop+embed,mix:lm,mix:lmcc,mix:lmraw,mix:lm0.25+pop+embed,mix:lmcc0.25+pop+embed,\
mix:lmcc0.5+pop+embed,mix:lmcc+pop+embed
cc() {  # dataset, how its users are picked
  $EVAL --tuned "nothing: a comparison on validation targets" --dataset "$1" --split valid $2 \
    --methods "$CC_METHODS" --no-curves --json "docs/lm-experiments/$1-valid-100u-cc.json" \
    --report "docs/lm-experiments/$1-valid-100u-cc.md"
}
step_cc() { cc ml-100k "--limit-users 100"; cc lastfm "--sample-users 100"; }

# The same comparison on the dataset where the LM term matters: amazon-scientific test targets, first 100 users,
# fixed settings (a comparison of models, not a choice made on these targets).
step_gemma-amazon() {
  compare_models amazon-scientific-100u --dataset amazon-scientific --limit-users 100 --max-item-tokens 24
}

# How faithful the explanations are (docs/explanations.md): for the first 200 users' top 5 (lastfm: 200 drawn), the
# deletion test and exact leave-one-out over the last 20 history items; the LM pairs of the llmrank runs are reused.
step_explain() {
  for d in $DATASETS; do
    $PY explain-eval --db "$DB" --dataset "$d" $(users "$d" 200) --threads "${THREADS:-1}" --quiet \
      --json "docs/explain/$d.json" --report "docs/explain/$d.md"
  done
}

# Does bfloat16 cost ranking quality (docs/speed.md)? The same 200 users scored in float32 and in bfloat16, the two
# datasets side by side (one core each), then the paired difference per method and the agreement of the pair scores.
PRECISION_METHODS=fused,lm,embed+pop,pop
step_precision() {
  mkdir -p "$OUT/precision"
  for p in float32 bfloat16; do
    $EVAL --dataset ml-100k --methods $PRECISION_METHODS $(users ml-100k 200) --precision $p --no-curves --quiet \
      --json "$OUT/precision/ml-100k-$p.json" &
    $EVAL --dataset lastfm --methods $PRECISION_METHODS $(users lastfm 200) --precision $p --no-curves --quiet \
      --json "$OUT/precision/lastfm-$p.json" &
    wait
  done
  ${PYTHON:-.venv/bin/python} bench/precision_eval.py --db "$DB" --dataset ml-100k --dataset lastfm \
    | tee "$OUT/precision/summary.txt"
}

STEPS="import ml-100k ml-latest-small lastfm amazon-scientific valid-ml-100k valid-ml-latest-small valid-lastfm
       valid-amazon-scientific tuned full explain precision amazon-48 gemma cc gemma-amazon"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && read -r -a steps <<< "$(echo $STEPS)"
for s in "${steps[@]}"; do "step_$s"; done
