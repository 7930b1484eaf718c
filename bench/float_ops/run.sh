#!/usr/bin/env bash
# Float ops per model and signature (issue 11): kiln_torch tiny layers and
# whole models (w8a16, w4a16, w8a8, the default quantizers: mask and RMSNorm
# internals on) and, when ../shared/fixtures is present, TICO's npu_export
# fixtures; each converted for Circle and TFLite, prefill+decode, default and
# --integer-only. Prints one row per model/format: the float-op count of each
# signature (from kiln-convert's summary), the file size, and whether
# --integer-only accepts it.
#
#   bench/float_ops/run.sh [BUILD_DIR] [WORK_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
work=${2:-$(mktemp -d)}
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
export PATH=$build/bin:$PATH PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$work"

row() { # name pt format args...
  local name=$1 pt=$2 fmt=$3; shift 3
  local out=$work/$name.$fmt
  local summary
  summary=$(kiln-convert "$pt" -o "$out" --format "$fmt" "$@" 2>&1) || { echo "$name $fmt: conversion FAILED"; return; }
  local counts
  counts=$(echo "$summary" | sed -n "s/^float ops '\([a-z_0-9]*\)': \([0-9]*\).*/\1=\2/p" | tr '\n' ' ')
  local size
  size=$(stat -c %s "$out")
  local strict=accepted
  kiln-convert "$pt" -o "$work/strict.$fmt" --format "$fmt" "$@" --integer-only > /dev/null 2>&1 || strict=refused
  printf '%-28s %-6s %-28s %9s B  --integer-only %s\n' "$name" "$fmt" "$counts" "$size" "$strict"
}

for recipe in w8a16 w4a16 w8a8; do
  for form in layer whole; do
    pt=$work/${form}_$recipe.pt
    flag=""; [ $form = whole ] && flag=--whole-model
    /usr/bin/python3 -m kiln_torch.make_model --preset tiny --recipe $recipe $flag --seed 0 \
      --seq-len 8 --cache-len 8 -o "$pt" > /dev/null || { echo "make_model $recipe $form FAILED"; continue; }
    for fmt in circle tflite; do
      row "kiln_torch ${form} $recipe" "$pt" $fmt --mode prefill+decode --seq-len 8 --cache-len 8
    done
  done
done
if [ -d "$fixtures/tico" ]; then
  for fmt in circle tflite; do
    row "tico layer0_prefill" "$fixtures/tico/w8_npu_export_layer0_prefill.pt" $fmt --mode prefill --seq-len 16
    row "tico model_prefill_ids" "$fixtures/tico/w8_npu_export_model_prefill_ids.pt" $fmt --mode prefill --seq-len 16 --return-kv=false
  done
  for f in layer0_decode model_decode; do
    for fmt in circle tflite; do
      row "tico $f" "$fixtures/tico/w8_npu_export_$f.pt" $fmt --mode decode --cache-len 15
    done
  done
fi
