#!/usr/bin/env bash
# make-corpus.sh BUILD_BIN OUT: seed corpora for the fuzz targets, made by
# kiln_torch (a tiny w8a16 layer, scripted and traced) and kiln-convert
# (.circle and .tflite, prefill and decode): OUT/pt and OUT/fb.
set -euo pipefail
bin=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/pt" "$out/fb"
for flags in "" "--traced"; do
  name=tiny$(echo "$flags" | tr -d ' -')
  PYTHONPATH=$here/../../python /usr/bin/python3 -m kiln_torch.make_model --preset tiny --recipe w8a16 \
    --seed 0 --seq-len 4 --cache-len 4 $flags -o "$out/pt/$name.pt" > /dev/null
done
"$bin/kiln-convert" "$out/pt/tiny.pt" -o "$out/fb/tiny.circle" --mode prefill+decode --seq-len 4 --cache-len 4 > /dev/null
"$bin/kiln-convert" "$out/pt/tiny.pt" -o "$out/fb/tiny.tflite" --format tflite --mode prefill+decode --seq-len 4 --cache-len 4 > /dev/null
echo "corpus in $out/pt and $out/fb"
