# Prints a model decoded by `flatc --json --strict-json` one fact per line, for
# FileCheck. Works with any schema's field names (Kiln's, Circle's, TFLite's).
#   summarize_json.py MODEL.json [--opcodes-only]
import json
import sys

model = json.load(open(sys.argv[1]))
opcodes_only = "--opcodes-only" in sys.argv

print("version", model.get("version", 0))
codes = []
for c in model.get("operator_codes", []):
    name = c.get("builtin_code", "ADD")
    codes.append(name)
    print("opcode", name, "deprecated_builtin_code", c.get("deprecated_builtin_code", 0),
          "version", c.get("version", 1))
if opcodes_only:
    sys.exit(0)
for sg in model.get("subgraphs", []):
    for t in sg.get("tensors", []):
        line = "tensor %s %s %s" % (t.get("name", ""), t.get("type", "FLOAT32"), t.get("shape", []))
        if t.get("buffer", 0):
            line += " buffer %d" % t["buffer"]
        q = t.get("quantization")
        if q and q.get("scale"):
            line += " scale %s zero_point %s dim %d" % (q["scale"], q.get("zero_point", []),
                                                       q.get("quantized_dimension", 0))
        print(line)
    for op in sg.get("operators", []):
        print("op", codes[op.get("opcode_index", 0)], "options",
              op.get("builtin_options_type", "NONE"),
              json.dumps(op.get("builtin_options", {}), sort_keys=True))
for s in model.get("signature_defs", []):
    print("signature", s.get("signature_key"), "subgraph", s.get("subgraph_index", 0),
          "inputs", [m["name"] for m in s.get("inputs", [])],
          "outputs", [m["name"] for m in s.get("outputs", [])])
for m in model.get("metadata", []):
    print("metadata", m["name"])
