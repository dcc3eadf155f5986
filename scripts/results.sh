#!/usr/bin/env bash
# Measures the checkpoint of every phase of the chain (`scripts/chain.sh`) on
# the held-out world (Data/world-eval, a seed the chain never trains on) and
# writes the results table into README.md (between the results markers) and
# Checkpoints/results.md. Every answer goes to Checkpoints/answers/PHASE-*.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-.build/release/trainer}
EVAL=Data/world-eval
DETAIL="Describe this image in detail."
READ="What is written in the image?"
IMAGES=${EVAL_IMAGES:-100}
out=Checkpoints/results.md
times=Checkpoints/chain-times.txt
mkdir -p Checkpoints/answers

# The value of a numeric field of a `trainer eval --json` report, to 2 or 3 decimals, or – if absent.
field() { local v; v=$(grep -o "\"$2\" : [-0-9.e]*" <<<"$1" | head -1 | awk '{print $3}')
          [ -n "$v" ] && printf "%.${3:-3}f" "$v" || echo "–"; }
seconds() { local v; v=$(awk -v p="$1" '$1 == p { print $2 }' "$times" 2>/dev/null); [ -n "$v" ] && echo "${v} s" || echo "–"; }

# Mean `rewards/accuracies` of each quarter of the DPO phase's steps.
dpo_quarters() {
  grep -o '"rewards/accuracies":[-0-9.e]*' Checkpoints/dpo/metrics.jsonl 2>/dev/null | cut -d: -f2 |
    awk '{ v[NR] = $1 } END { if (NR < 4) { print "–"; exit }
          for (q = 0; q < 4; q++) { s = 0; n = 0
            for (i = int(q * NR / 4) + 1; i <= int((q + 1) * NR / 4); i++) { s += v[i]; n++ }
            printf "%s%.2f", (q ? ", " : ""), s / n } }'
}

# The held-out cell accuracies of the vision pre-training's last evaluation.
vision_cells() {
  grep '"eval_regions/' Checkpoints/vision/metrics.jsonl 2>/dev/null | tail -1 |
    grep -o '"eval_regions/[a-z]*_accuracy":[0-9.e-]*' |
    sed 's/"eval_regions\/\([a-z]*\)_accuracy":\(.*\)/\1 \2/' |
    awk '{ printf "%s%s %.3f", (NR > 1 ? ", " : ""), $1, $2 } END { if (NR == 0) printf "–" }'
}

row() {   # row PHASE
  local phase=$1 ckpt=Checkpoints/$1/latest.h5 caption=() read=() texts=$EVAL/captions.jsonl
  # The pretraining phases know only the caption prompt and are measured on captions; SFT and DPO
  # are asked as a user would and measured on the detailed descriptions they learn.
  case $phase in sft|dpo) caption=(--prompt "$DETAIL"); read=(--prompt "$READ"); texts=$EVAL/sft-part2.json;; esac
  local loss seeing ocr qa=""
  loss=$($TRAINER eval --checkpoint "$ckpt" --data $texts --limit 50 --loss-only --json)
  seeing=$($TRAINER eval --checkpoint "$ckpt" --data $EVAL/captions.jsonl --limit "$IMAGES" --no-loss --json \
           "${caption[@]}" --answers Checkpoints/answers/$phase-descriptions.jsonl)
  ocr=$($TRAINER eval --checkpoint "$ckpt" --data $EVAL/ocr.jsonl --limit 40 --no-loss --json \
        "${read[@]}" --answers Checkpoints/answers/$phase-readings.jsonl)
  case $phase in sft|dpo) qa=$($TRAINER eval --checkpoint "$ckpt" --data $EVAL/sft-part1.json --limit "$IMAGES" \
                               --no-loss --json --answers Checkpoints/answers/$phase-questions.jsonl);; esac
  echo "| $phase | $(seconds $phase) | $(field "$loss" heldOutLoss) | $(field "$loss" swapRatio 2)" \
       "| $(field "$seeing" colorAccuracy) | $(field "$seeing" shapeAccuracy) | $(field "$seeing" smallShapeAccuracy)" \
       "| $(field "$seeing" sizeAccuracy) | $(field "$seeing" positionAccuracy) | $(field "$seeing" countAccuracy)" \
       "| $(field "$seeing" backgroundAccuracy) | $(field "$seeing" objectsWhollyRight) | $(field "$seeing" recall)" \
       "| $(field "$seeing" mentionHallucinationRate) | $(field "$seeing" responseHallucinationRate)" \
       "| $(field "$ocr" characterErrorRate) | $(field "$qa" answerAccuracy) |"
}

{
  echo "<!-- results:start -->"
  echo "Measured on $(date -u +%Y-%m-%d) with \`make results\` ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo "on the held-out world \`$EVAL\` (seed 2027, never trained on). Loss: loss per token with the right images, on"
  echo "\`captions.jsonl\` after pretraining phases and on the detailed conversations of \`sft-part2.json\` after SFT and DPO;"
  echo "swap: the same loss with every image replaced by another, divided by it. Seeing figures: $IMAGES descriptions"
  echo "(the caption prompt after pretraining phases, \"$DETAIL\" after SFT and DPO) read by the world's checker."
  echo "CER: 40 document readings. QA: short answers of \`sft-part1.json\` equal to the reference."
  echo
  echo "| after | time | loss | swap | colour | shape | small shape | size | position | count | background | wholly right | recall | halluc. mentions | halluc. answers | CER | QA |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for phase in foundation stage1 stage2 stage3 sft dpo; do
    [ -e Checkpoints/$phase/latest.h5 ] && row $phase
  done
  echo
  echo "Vision pre-training ($(seconds vision)): held-out cell accuracy $(vision_cells)."
  echo "RLAIF-V data: $(seconds rlaifv), $(grep -c . Checkpoints/rlaifv/preference.jsonl 2>/dev/null || echo 0) pairs."
  echo "DPO \`rewards/accuracies\` by quarter of the phase: $(dpo_quarters)."
  echo "The whole chain: $(seconds chain) of training (evaluation not included)."
  echo "<!-- results:end -->"
} | tee "$out"
awk -v table="$out" '
  /<!-- results:start -->/ { while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- results:end -->/ { skip = 0; next }
  !skip { print }
' README.md > README.md.tmp && mv README.md.tmp README.md
