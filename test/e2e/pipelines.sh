#!/usr/bin/env bash
# pipelines.sh WORKDIR PRESET RECIPE BOUND-FLAG BOUND [make_model flags...]
# Imports a kiln_torch layer, runs kiln-prefill, kiln-decode and
# kiln-prefill-reference, checks each against the PyTorch reference with
# kiln-run (which exits 1 past the bound), and prints prefill vs
# prefill_reference.
set -euo pipefail
work=$1 preset=$2 recipe=$3 flag=$4 bound=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
d=$work/$preset-$recipe$(echo "$*" | tr -d ' -')
rm -rf "$d" && mkdir -p "$d"
PYTHONPATH=$here/../../python /usr/bin/python3 -m kiln_torch.make_model --preset "$preset" \
  --recipe "$recipe" --seed 0 --seq-len 16 --cache-len 16 -o "$d/m.pt" --reference "$d/ref" "$@" >/dev/null
kiln-import "$d/m.pt" -o "$d/m.mlir"
kiln-opt "$d/m.mlir" --kiln-prefill="seq-len=16" -o "$d/prefill.mlir"
kiln-opt "$d/m.mlir" --kiln-decode="cache-len=16" -o "$d/decode.mlir"
kiln-opt "$d/m.mlir" --kiln-prefill-reference="seq-len=16" -o "$d/reference.mlir"
kiln-run "$d/prefill.mlir" --inputs-from "$d/ref" "$flag" "$bound"
kiln-run "$d/decode.mlir" --inputs-from "$d/ref" "$flag" "$bound"
kiln-run "$d/reference.mlir" --inputs-from "$d/ref" "$flag" "$bound" > /dev/null
echo "prefill vs prefill_reference"
kiln-run --compare "$d/prefill.mlir" "$d/reference.mlir" --inputs-from "$d/ref" | sed -n '2,5p'
echo "pipelines: PASS"
