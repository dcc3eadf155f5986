#!/usr/bin/env bash
# Data-parallel speed on this machine: `trainer run` on the same global batch
# (2 packed rows per step of Data/synth captions) as one process with all the
# cores' threads, then as RANKS processes under mpirun sharing the threads.
# Prints, per layout, the median step time, tokens/s of the global batch, the
# median time the gradient allreduce adds after the backward pass (the sums
# overlap backward; what is left shows here) and the bytes it sums per step.
# TRAINER_ALLREDUCE_BUCKET_FLOATS (passed to the ranks) sets the bucket size.
#
#   scripts/mpi-bench.sh tiny        # 224 px images, rows of 512 tokens
#   scripts/mpi-bench.sh small       # 448 px images, rows of 256 tokens (about 2 samples each)
#   STEPS=12 RANKS=2 THREADS=2 scripts/mpi-bench.sh tiny
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-.build/release/trainer}
PRESET=${1:-tiny}
STEPS=${STEPS:-10}
RANKS=${RANKS:-2}
THREADS=${THREADS:-$(nproc)}
case "$PRESET" in
  tiny) resolution=224; length=512 ;;
  small) resolution=448; length=256 ;;
  *) echo "preset must be tiny or small, got $PRESET" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/trainer-mpi-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
recipe() {   # recipe NAME
  cat > "$work/$1.yaml" <<YAML
name: mpi-bench-$1
model: $PRESET
train: [vpm, resampler, llm]
data:
  format: captions
  train: $PWD/Data/synth/captions.jsonl
  tokenizer: $PWD/Data/tokenizer.json
  resolution: $resolution
  max_length: $length
  rows: 2
  cache: $PWD/Checkpoints/.cache
optimizer:
  lr: 3.0e-4
schedule:
  kind: constant
steps: $STEPS
checkpoint:
  dir: $work/$1
  every: 0
log_every: 1
seed: 1
YAML
}
summary() {  # summary NAME LABEL: medians over the steps after the first two
  python3 - "$work/$2/metrics.jsonl" "$1" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][2:]
step = statistics.median(r["step_s"] for r in rows)
tokens = statistics.median(r["tokens"] for r in rows)
line = f"{sys.argv[2]}: step {step*1e3:.0f} ms, {tokens/step:.0f} tokens/s ({tokens:.0f} tokens per step)"
if "allreduce_s" in rows[0]:
    ar = statistics.median(r["allreduce_s"] for r in rows)
    wait = statistics.median(r["allreduce_wait_s"] for r in rows)
    if "allreduce_in_backward_s" in rows[0]:
        inside = statistics.median(r["allreduce_in_backward_s"] for r in rows)
        early = statistics.median(r["allreduce_early_buckets"] for r in rows)
        line += (f", allreduce exposed after backward {ar*1e3:.1f} ms/step (of which blocked in MPI {wait*1e3:.1f} ms),"
                 f" {inside*1e3:.1f} ms inside backward, {early:.0f} of {rows[0]['allreduce_buckets']:.0f} buckets"
                 " started during backward")
    else:   # a build whose sums ran after backward: a barrier, then the sums
        line += f", allreduce {ar*1e3:.1f} ms/step after {wait*1e3:.1f} ms waiting for the slower rank"
    line += f" ({rows[0]['allreduce_bytes']/2**20:.2f} MiB summed per step)"
print(line)
PY
}
recipe one
recipe ranks
echo "preset $PRESET, $STEPS steps, global batch 2 rows of $length tokens; $(nproc) cores"
"$TRAINER" run "$work/one.yaml" --threads "$THREADS" > "$work/one.log"
summary "1 process × $THREADS threads" one
per=$(( THREADS / RANKS > 0 ? THREADS / RANKS : 1 ))
mpirun -np "$RANKS" --oversubscribe --allow-run-as-root --bind-to none \
  ${TRAINER_ALLREDUCE_BUCKET_FLOATS:+-x TRAINER_ALLREDUCE_BUCKET_FLOATS} \
  "$TRAINER" run "$work/ranks.yaml" --threads "$per" > "$work/ranks.log"
summary "$RANKS processes × $per thread(s)" ranks
