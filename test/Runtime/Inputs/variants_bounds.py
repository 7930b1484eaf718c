"""variants_bounds.py REPORT --max-steps N --max-output-peir P [--min-rows R]:
checks the figures of a `kiln-parity --variants` report (its stdout): the
largest difference of any tensor (the "max difference: N steps" line) is at
most --max-steps, every output's PEIR (prefill_reference against prefill) at
most --max-output-peir, and at least --min-rows tensors were paired. Prints
the figures; exits 1 naming the first bound broken."""
import argparse
import re
import sys

p = argparse.ArgumentParser()
p.add_argument("report")
p.add_argument("--max-steps", type=float, required=True)
p.add_argument("--max-output-peir", type=float, required=True)
p.add_argument("--min-rows", type=int, default=1)
a = p.parse_args()

text = open(a.report).read()
steps = float(re.search(r"^max difference: ([0-9.]+|inf) steps", text, re.M).group(1))
rows = int(re.search(r"^matched (\d+) of \d+ computed tensors", text, re.M).group(1))
lines = text.splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith("output "))
outputs = {}
for l in lines[start + 1:]:
    cols = l.split()
    if len(cols) < 6 or not re.match(r"^\d+(x\d+)*$", cols[1]):
        break
    outputs[cols[0]] = float(cols[3])

print("max %.2f steps, %d rows, output PEIR %s" % (
    steps, rows, ", ".join("%s %.2e" % kv for kv in outputs.items())))
if steps > a.max_steps:
    sys.exit("variants_bounds: max difference %.2f steps > %g" % (steps, a.max_steps))
if rows < a.min_rows:
    sys.exit("variants_bounds: %d rows paired < %d" % (rows, a.min_rows))
if not outputs:
    sys.exit("variants_bounds: no output rows")
for name, peir in outputs.items():
    if peir > a.max_output_peir:
        sys.exit("variants_bounds: output %s PEIR %.2e > %g" % (name, peir, a.max_output_peir))
print("variants_bounds: ok")
