#!/usr/bin/env bash
# The shipped chain on the generated world (`make world`): foundation, the
# paper's pretraining stages 1-3, SFT Part-1 and Part-2, then RLAIF-V (sample
# on policy, score with the world's checker, build pairs) and DPO. Each phase
# starts from the previous checkpoint; the wall time of every phase goes to
# Checkpoints/chain-times.txt. Each phase starts over (`--overwrite`): rerunning
# the chain replaces the previous one.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-.build/release/trainer}
RLAIFV_IMAGES=${RLAIFV_IMAGES:-400}
times=Checkpoints/chain-times.txt
mkdir -p Checkpoints
: > "$times"

phase() {   # phase NAME COMMAND...
  local name=$1; shift
  local start=$(date +%s)
  echo "== $name: $*"
  "$@"
  echo "$name $(( $(date +%s) - start ))" >> "$times"
}

rlaifv() {
  local dir=Checkpoints/rlaifv
  mkdir -p $dir
  # Step 1: K answers per image sampled from the SFT policy.
  $TRAINER sample --checkpoint Checkpoints/sft/latest.h5 --data Data/world/captions.jsonl \
    --prompt "Describe this image in detail." -k 4 --temperature 0.7 --limit "$RLAIFV_IMAGES" \
    --max-tokens 96 --out $dir/samples.jsonl
  # Step 2: every answer split into claims and checked; score = minus the wrong claims.
  $TRAINER score --samples $dir/samples.jsonl --metadata Data/world/metadata.jsonl --out $dir/scored.jsonl
  # Step 3: the best and worst answers of an image become a (chosen, rejected) pair.
  $TRAINER pairs --scored $dir/scored.jsonl --out $dir/preference.jsonl
}

start=$(date +%s)
for r in foundation stage1 stage2 stage3 sft; do phase $r $TRAINER run Recipes/$r.yaml --overwrite; done
phase rlaifv rlaifv
phase dpo $TRAINER run Recipes/dpo.yaml --overwrite
echo "chain $(( $(date +%s) - start ))" >> "$times"
echo "chain finished in $(( $(date +%s) - start )) s (per phase: $times)"
