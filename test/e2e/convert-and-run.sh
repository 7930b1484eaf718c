#!/usr/bin/env bash
# convert-and-run.sh WORKDIR PRESET RECIPE [compare.py bounds...]
# KILN_MAKE_FLAGS adds make_model flags (--whole-model, --traced, --per-head),
# KILN_CONVERT_FLAGS kiln-convert flags (--integer-only).
# Makes a kiln_torch layer with reference data, converts it to one .tflite
# holding prefill and decode, runs both signatures in LiteRT and compares
# with the reference. Tools come from PATH (lit puts the build's first).
set -euo pipefail
work=$1 preset=$2 recipe=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
flags=${KILN_MAKE_FLAGS:-}
convert_flags=${KILN_CONVERT_FLAGS:-}
d=$work/$preset-$recipe$(echo "$flags" | tr -d ' -')
rm -rf "$d" && mkdir -p "$d"
PYTHONPATH=$here/../../python /usr/bin/python3 -m kiln_torch.make_model --preset "$preset" \
  --recipe "$recipe" --seed 0 --seq-len 16 --cache-len 16 $flags -o "$d/m.pt" --reference "$d/ref" >/dev/null
kiln-convert "$d/m.pt" -o "$d/m.tflite" --mode prefill+decode --seq-len 16 --cache-len 16 \
  --format tflite --recipe "$recipe" $convert_flags
for step in prefill decode; do
  node "$here/litert/run.mjs" "$d/m.tflite" --signature $step --inputs "$d/ref" --outputs "$d/out" 2>/dev/null
done
/usr/bin/python3 "$here/compare.py" "$d/ref" "$d/out" "$@"
# The same exported graph in Kiln's evaluator (circle dialect), written in
# the same format and compared with the same bounds.
kiln-convert "$d/m.pt" --mode prefill+decode --seq-len 16 --cache-len 16 \
  --format tflite --emit-mlir=circle $convert_flags > "$d/circle.mlir"
for step in prefill decode; do
  kiln-run "$d/circle.mlir@$step" --inputs-from "$d/ref" --output-dir "$d/kiln-run" > /dev/null
done
echo "kiln-run on the exported circle IR:"
/usr/bin/python3 "$here/compare.py" "$d/ref" "$d/kiln-run" "$@"
