#!/usr/bin/env bash
# Evaluates the checkpoint of every phase of the shipped chain on the held-out
# synthetic images and writes the results table into README.md (between the
# results markers) and Checkpoints/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-.build/release/trainer}
HELDOUT=Data/synth/captions-heldout.jsonl
DETAIL="Describe this image in detail."
out=Checkpoints/results.md
{
  echo "<!-- results:start -->"
  echo "Measured on $(date -u +%Y-%m-%d) with \`make results\` ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "on the $(grep -c . $HELDOUT) held-out images of \`$HELDOUT\`. Loss: held-out caption loss per token."
  echo "BLEU-4 / CIDEr-D: answers to \"Describe the image.\" against the reference captions. Attribute accuracy,"
  echo "hallucination rate (wrong claims / checked claims) and answers with a hallucination: answers to"
  echo "\"$DETAIL\" checked against the ground truth."
  echo
  echo "| after | held-out loss | BLEU-4 | CIDEr-D | attribute accuracy | hallucination rate | answers with a hallucination | claims per answer |"
  echo "|---|---|---|---|---|---|---|---|"
  for phase in stage1 stage2 stage3 sft dpo; do
    ckpt=Checkpoints/$phase/latest.h5
    [ -e "$ckpt" ] || continue
    caption=$($TRAINER eval --checkpoint "$ckpt" --data $HELDOUT --limit 64 --markdown "$phase")
    detail=$($TRAINER eval --checkpoint "$ckpt" --data $HELDOUT --limit 64 --prompt "$DETAIL" --markdown "$phase")
    # Loss, BLEU and CIDEr from the caption prompt; the ground-truth checks from the detailed one.
    paste -d'|' <(echo "$caption" | cut -d'|' -f1-5) <(echo "$detail" | cut -d'|' -f6-10)
  done
  echo "<!-- results:end -->"
} | tee "$out"
awk -v table="$out" '
  /<!-- results:start -->/ { while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- results:end -->/ { skip = 0; next }
  !skip { print }
' README.md > README.md.tmp && mv README.md.tmp README.md
