#!/usr/bin/env bash
# split-and-run.sh WORKDIR PRESET RECIPE SPLIT_MAX_REL [compare.py bounds...]
# Makes a whole kiln_torch model with reference data and converts it to one
# .tflite (prefill+decode) and with --split layers to a directory of
# segments. Runs both in LiteRT and in kiln-run (the whole file's circle IR;
# each segment read back with kiln-translate --circle-to-mlir), the segments
# chained by split-chain.py, and compares every run with the reference
# (the given bounds) and the split runs with the whole runs (max relative
# error SPLIT_MAX_REL). KILN_MAKE_FLAGS adds make_model flags (--traced).
# Tools come from PATH (lit puts the build's first).
set -euo pipefail
work=$1 preset=$2 recipe=$3 split_rel=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
flags=${KILN_MAKE_FLAGS:-}
d=$work/$preset-$recipe$(echo "$flags" | tr -d ' -')
rm -rf "$d" && mkdir -p "$d"
PYTHONPATH=$here/../../python /usr/bin/python3 -m kiln_torch.make_model --preset "$preset" \
  --recipe "$recipe" --seed 0 --seq-len 16 --cache-len 16 --whole-model $flags -o "$d/m.pt" --reference "$d/ref" >/dev/null
common="--mode prefill+decode --seq-len 16 --cache-len 16 --format tflite --recipe $recipe"
kiln-convert "$d/m.pt" -o "$d/m.tflite" $common --quiet
kiln-convert "$d/m.pt" -o "$d/split" --split layers $common | grep '^split:'
ls "$d/split"
for step in prefill decode; do
  node "$here/litert/run.mjs" "$d/m.tflite" --signature $step --inputs "$d/ref" --outputs "$d/whole-litert" >/dev/null 2>&1
done
# Runs the split chain in one runner, then compares whole and split with the
# reference and with each other.
chain_and_compare() { # RUNNER NAME [compare.py bounds...]
  local runner=$1 name=$2
  shift 2
  /usr/bin/python3 "$here/split-chain.py" "$d/split" "$d/ref" "$d/split-$runner" --runner "$runner"
  echo "whole in $name:"
  /usr/bin/python3 "$here/compare.py" "$d/ref" "$d/whole-$runner" "$@"
  echo "split in $name:"
  /usr/bin/python3 "$here/compare.py" "$d/ref" "$d/split-$runner" "$@"
  echo "split vs whole in $name:"
  /usr/bin/python3 "$here/compare.py" "$d/whole-$runner" "$d/split-$runner" --max-rel "$split_rel"
}
chain_and_compare litert LiteRT "$@"

kiln-convert "$d/m.pt" $common --emit-mlir=circle > "$d/circle.mlir"
for step in prefill decode; do
  kiln-run "$d/circle.mlir@$step" --inputs-from "$d/ref" --output-dir "$d/whole-kiln-run" > /dev/null
done
chain_and_compare kiln-run kiln-run "$@"
