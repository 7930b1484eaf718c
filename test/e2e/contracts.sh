#!/usr/bin/env bash
# contracts.sh WORKDIR NAME "MAKE_MODEL FLAGS" "KILN-CONVERT FLAGS" [compare.py bounds...]
# Makes a kiln_torch model with reference steps for the contract (buckets,
# append, sliding window, cache layout: kiln_torch.contracts), converts it to
# one .tflite with the same contract, runs every signature the file has in
# LiteRT and compares each with the reference step of the same name. Prints
# the summary, the LiteRT lines and compare.py's table. Tools come from PATH.
set -euo pipefail
work=$1 name=$2 make_flags=$3 convert_flags=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
d=$work/$name
rm -rf "$d" && mkdir -p "$d"
PYTHONPATH=$here/../../python /usr/bin/python3 -m kiln_torch.make_model --seed 0 $make_flags \
  -o "$d/m.pt" --reference "$d/ref" >/dev/null
kiln-convert "$d/m.pt" -o "$d/m.tflite" --format tflite $convert_flags \
  --summary-json "$d/summary.json"
steps=$(/usr/bin/python3 -c "import json,sys; print(','.join(s['name'] for s in json.load(open(sys.argv[1]))['signatures']))" "$d/summary.json")
echo "signatures: $steps"
for step in ${steps//,/ }; do
  node "$here/litert/run.mjs" "$d/m.tflite" --signature "$step" --inputs "$d/ref" --outputs "$d/out" 2>/dev/null
done
/usr/bin/python3 "$here/compare.py" "$d/ref" "$d/out" --steps "$steps" "$@"
