#!/usr/bin/env bash
# The shipped chain on the generated world (`make world`): vision pre-training
# on per-cell labels and a foundation phase (the tiny model has no pretrained
# parts), the
# paper's pretraining stages 1-3, SFT Part-1 and Part-2, then RLAIF-V (sample
# on policy, score with the world's checker, build pairs) and DPO. Each phase
# starts from the previous checkpoint; the wall time of every phase goes to
# Checkpoints/chain-times.txt. Each phase starts over (`--overwrite`): rerunning
# the chain replaces the previous one.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-.build/release/trainer}
RLAIFV_IMAGES=${RLAIFV_IMAGES:-400}
# FROM=PHASE reruns the chain from that phase on, keeping the earlier phases' checkpoints and times.
FROM=${FROM:-vision}
times=Checkpoints/chain-times.txt
mkdir -p Checkpoints
if [ "$FROM" = vision ]; then : > "$times"; fi

order="vision foundation stage1 stage2 stage3 sft rlaifv dpo"
case " $order " in *" $FROM "*) ;; *) echo "FROM must be one of: $order" >&2; exit 1;; esac
started=""

phase() {   # phase NAME COMMAND...
  local name=$1; shift
  [ "$name" = "$FROM" ] && started=yes
  if [ -z "$started" ]; then echo "== $name: kept"; return; fi
  sed -i "/^$name /d; /^chain /d" "$times" 2>/dev/null || true
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
  # Step 3: a better and a worse answer of an image become a (chosen, rejected) pair.
  # Pairs of about the same length, so that the preference is for being right, not for saying less.
  $TRAINER pairs --scored $dir/scored.jsonl --max-length-ratio 1.25 --out $dir/preference.jsonl
}

for r in vision foundation stage1 stage2 stage3 sft; do phase $r $TRAINER run Recipes/$r.yaml --overwrite; done
phase rlaifv rlaifv
phase dpo $TRAINER run Recipes/dpo.yaml --overwrite
total=$(awk '$1 != "chain" { s += $2 } END { print s }' "$times")
echo "chain $total" >> "$times"
echo "chain finished: $total s of training over all phases (per phase: $times)"
