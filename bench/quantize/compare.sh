#!/usr/bin/env bash
# Byte-for-byte check of kiln-fold-fake-quant's weight kernel (issue 12,
# item 2): converts kiln_torch whole models (every recipe, tiny and small) in
# Circle and TFLite, default and --integer-only, with this build's default
# path and with the previous element-by-element path
# (KILN_FOLD_FAKE_QUANT_SCALAR=1), and with OLD_BIN/kiln-convert when OLD_BIN
# is set (a build from before the change); every output must be identical.
#
#   bench/quantize/compare.sh [BUILD_DIR] [WORK_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
export PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH}
new=$build/bin/kiln-convert
status=0
for preset in tiny small; do
  for recipe in w8a16 w4a16 w4a16-asym w8a8; do
    pt=$work/$preset-$recipe.pt
    [ -f "$pt" ] || /usr/bin/python3 -m kiln_torch.make_model --preset $preset --recipe $recipe \
      --whole-model --seed 0 --seq-len 8 --cache-len 8 -o "$pt" > /dev/null || { echo "make_model $preset $recipe FAILED"; status=1; continue; }
    for fmt in circle tflite; do
      for flags in "" --integer-only; do
        args=(--mode prefill+decode --seq-len 8 --cache-len 8 --format $fmt $flags)
        out=$work/$preset-$recipe$flags.$fmt
        "$new" "$pt" -o "$out.new" "${args[@]}" > /dev/null 2>&1; rn=$?
        KILN_FOLD_FAKE_QUANT_SCALAR=1 "$new" "$pt" -o "$out.scalar" "${args[@]}" > /dev/null 2>&1; rs=$?
        if [ $rn -ne 0 ] || [ $rs -ne 0 ]; then
          # Both refusing is a combination the exporter does not support
          # (uint4 in TFLite); one refusing is a failure.
          if [ $rn -ne 0 ] && [ $rs -ne 0 ]; then verdict="refused by both paths"
          else verdict="FAILED (new $rn, scalar $rs)"; status=1; fi
          printf '%-6s %-11s %-6s %-15s %s\n' $preset $recipe $fmt "${flags:-default}" "$verdict"
          continue
        fi
        verdict=identical
        cmp -s "$out.new" "$out.scalar" || { verdict="DIFFERS from the scalar path"; status=1; }
        if [ -n "${OLD_BIN:-}" ]; then
          if "$OLD_BIN/kiln-convert" "$pt" -o "$out.old" "${args[@]}" > /dev/null 2>&1; then
            if cmp -s "$out.new" "$out.old"; then verdict="$verdict, identical to old-bin"
            else verdict="$verdict, DIFFERS from old-bin"; status=1; fi
          else
            verdict="$verdict, old-bin failed"
          fi
        fi
        printf '%-6s %-11s %-6s %-15s %s\n' $preset $recipe $fmt "${flags:-default}" "$verdict"
      done
    done
  done
done
exit $status
