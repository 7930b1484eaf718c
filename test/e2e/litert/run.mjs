#!/usr/bin/env node
// Kiln's LiteRT runner: runs one signature of a .tflite file in LiteRT
// (@litertjs/core, WASM/XNNPack CPU) under Node.
//
//   node run.mjs MODEL.tflite --signature KEY --inputs DIR --outputs DIR [--step NAME]
//   node run.mjs MODEL.tflite --list
//
// Inputs and outputs use kiln_torch's reference format (docs/kiln_torch.md):
// DIR/index.json lists, per step, tensors {name, file, shape, dtype} stored as
// raw little-endian C-contiguous files. The step defaults to the signature
// key. Inputs are matched to the signature's inputs by name, and converted
// by value when the dtypes differ (float32 / int32 / int64 / int16 / int8 /
// uint8); a float input of a quantized model input needs "scale" and
// "zero_point" in its index entry. Outputs are written as
// OUTDIR/<step>.<name>.bin plus OUTDIR/index.json in the same format.
//
// The runner uses LiteRT's lower-level bindings (loadModel, compileModel,
// LiteRtTensorBuffer) rather than its Tensor class, which only takes
// float32/int32/uint8: int8 and int16 tensors go through raw host buffers.

import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';
import vm from 'node:vm';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// --- Browser globals LiteRT's loader expects ------------------------------
// The loader runs its Emscripten script with importScripts() (a worker API)
// and then reads `self.ModuleFactory`. Under Node, evaluate the script as
// CommonJS instead (the package is "type": "module", so require() would
// treat it as an ES module without exports); Emscripten then detects Node
// and reads its .wasm file from the script's directory.
globalThis.self ??= globalThis;
// No WebGPU here: LiteRT then compiles for its WASM (XNNPack) CPU path.
globalThis.navigator ??= {};
globalThis.navigator.gpu ??= {requestAdapter: async () => null};
globalThis.importScripts = (url) => {
  const file = String(url).startsWith('file:') ? fileURLToPath(url) : String(url);
  const code = fs.readFileSync(file, 'utf8');
  const module = {exports: {}};
  const wrapper = vm.runInThisContext(
      `(function (exports, require, module, __filename, __dirname) {${code}\n})`, {filename: file});
  wrapper(module.exports, require, module, file, path.dirname(file));
  globalThis.ModuleFactory = module.exports;
};

const {loadLiteRt} = await import('@litertjs/core');

// LiteRT ElementType codes (not the FlatBuffer TensorType codes).
const ELEMENT = {
  float32: {code: 1, bytes: 4, array: Float32Array},
  int32: {code: 2, bytes: 4, array: Int32Array},
  uint8: {code: 3, bytes: 1, array: Uint8Array},
  int64: {code: 4, bytes: 8, array: BigInt64Array},
  bool: {code: 6, bytes: 1, array: Uint8Array},
  int16: {code: 7, bytes: 2, array: Int16Array},
  int8: {code: 9, bytes: 1, array: Int8Array},
};
const dtypeOfCode = (code) =>
  Object.keys(ELEMENT).find((k) => ELEMENT[k].code === code) ?? `element_type_${code}`;

function fail(message) {
  process.stderr.write(`run.mjs: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {model: null, signature: null, inputs: null, outputs: null, step: null, list: false};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--signature') args.signature = value();
    else if (a === '--inputs') args.inputs = value();
    else if (a === '--outputs') args.outputs = value();
    else if (a === '--step') args.step = value();
    else if (a === '--list') args.list = true;
    else if (a.startsWith('--')) fail(`unknown option ${a}`);
    else if (!args.model) args.model = a;
    else fail(`unexpected argument ${a}`);
  }
  if (!args.model) fail('usage: run.mjs MODEL.tflite (--list | --signature KEY --inputs DIR --outputs DIR [--step NAME])');
  return args;
}

function vectorToArray(v) {
  const out = [];
  for (let i = 0; i < v.size(); i++) out.push(v.get(i));
  v.delete();
  return out;
}

function typedView(dtype, bytes) {
  const {array, bytes: width} = ELEMENT[dtype];
  const copy = bytes.slice(); // aligned copy
  return new array(copy.buffer, copy.byteOffset, copy.byteLength / width);
}

/// Converts `data` (reference dtype `from`) to the model's dtype `to`.
function convert(data, from, to, entry, count) {
  if (from === to) return data;
  const src = typedView(from, data);
  const {array} = ELEMENT[to];
  const dst = new array(count);
  const isFloat = from === 'float32';
  const quantized = isFloat && (to === 'int8' || to === 'int16' || to === 'uint8');
  if (isFloat && !quantized && to !== 'float32')
    fail(`input ${entry.name}: cannot convert float32 to ${to}`);
  if (quantized && (entry.scale === undefined || entry.zero_point === undefined))
    fail(`input ${entry.name}: the model takes ${to}; give "scale" and "zero_point" in index.json`);
  const lo = {int8: -128, int16: -32768, uint8: 0}[to];
  const hi = {int8: 127, int16: 32767, uint8: 255}[to];
  for (let i = 0; i < count; i++) {
    let v = src[i];
    if (quantized) {
      // Round half away from zero, as TFLite's QUANTIZE does.
      const scaled = v / entry.scale;
      v = Math.sign(scaled) * Math.round(Math.abs(scaled)) + entry.zero_point;
      v = Math.min(hi, Math.max(lo, v));
    }
    dst[i] = to === 'int64' ? BigInt(Math.trunc(Number(v))) : Number(v);
  }
  return new Uint8Array(dst.buffer);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const wasmDir = path.join(here, 'node_modules', '@litertjs', 'core', 'wasm') + path.sep;
  const warn = console.warn;
  console.warn = (...a) => {
    if (!String(a[0]).startsWith('Failed to create default WebGPU device')) warn(...a);
  };
  const liteRt = await loadLiteRt(wasmDir);
  console.warn = warn;
  const wasm = liteRt.liteRtWasm;
  const env = liteRt.getDefaultEnvironment();

  const modelBytes = fs.readFileSync(args.model);
  const modelPtr = wasm._malloc(modelBytes.length);
  wasm.HEAPU8.set(modelBytes, modelPtr);
  const model = wasm.loadModel(env.liteRtEnvironment, modelPtr, modelBytes.length);
  const compiled = await wasm.compileModel(env.liteRtEnvironment, model, {
    environment: env, accelerator: 'wasm', cpuOptions: {numThreads: 1}, gpuOptions: {}, webNNOptions: {},
  });

  const signatures = [];
  for (let s = 0; s < model.getNumSignatures(); s++) {
    const sig = model.getSignature(s);
    const describe = (names, typeOf) => names.map((name, i) => {
      const type = typeOf(s, i);
      const layout = type.layout();
      const shape = vectorToArray(layout.dimensions());
      const d = {name, dtype: dtypeOfCode(type.elementType().value), shape, bytes: type.bytes()};
      layout.delete();
      type.delete();
      return d;
    });
    signatures.push({
      index: s,
      key: sig.key(),
      inputs: describe(vectorToArray(sig.inputNames()), (a, b) => model.getInputTensorType(a, b)),
      outputs: describe(vectorToArray(sig.outputNames()), (a, b) => model.getOutputTensorType(a, b)),
    });
    sig.delete();
  }
  if (args.list) {
    process.stdout.write(JSON.stringify(signatures, null, 1) + '\n');
    return;
  }
  if (!args.signature || !args.inputs || !args.outputs) fail('--signature, --inputs and --outputs are required');
  const sig = signatures.find((s) => s.key === args.signature);
  if (!sig) fail(`no signature '${args.signature}' (have: ${signatures.map((s) => s.key).join(', ')})`);
  const step = args.step ?? args.signature;

  const index = JSON.parse(fs.readFileSync(path.join(args.inputs, 'index.json'), 'utf8'));
  if (!index[step]) fail(`${args.inputs}/index.json has no step '${step}'`);
  const entries = new Map(index[step].inputs.map((e) => [e.name, e]));

  const buffers = [];
  for (const [i, input] of sig.inputs.entries()) {
    const entry = entries.get(input.name);
    if (!entry) fail(`step '${step}' has no input '${input.name}'`);
    if (!ELEMENT[input.dtype]) fail(`input ${input.name}: model dtype ${input.dtype} is not supported`);
    if (!ELEMENT[entry.dtype]) fail(`input ${input.name}: reference dtype ${entry.dtype} is not supported`);
    const count = input.shape.reduce((a, b) => a * b, 1);
    const refCount = entry.shape.reduce((a, b) => a * b, 1);
    if (refCount !== count)
      fail(`input ${input.name}: reference shape [${entry.shape}] vs model shape [${input.shape}]`);
    let data = new Uint8Array(fs.readFileSync(path.join(args.inputs, entry.file)));
    if (data.length !== count * ELEMENT[entry.dtype].bytes)
      fail(`input ${input.name}: ${entry.file} has ${data.length} bytes, expected ${count * ELEMENT[entry.dtype].bytes}`);
    data = convert(data, entry.dtype, input.dtype, entry, count);
    if (data.length !== input.bytes) fail(`input ${input.name}: ${data.length} bytes, the model takes ${input.bytes}`);
    const type = model.getInputTensorType(sig.index, i);
    const buffer = wasm.LiteRtTensorBuffer.createManaged(
        env.liteRtEnvironment, wasm.LiteRtTensorBufferType.HOST_MEMORY, type, input.bytes);
    type.delete();
    const ptr = buffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
    wasm.HEAPU8.set(data, ptr);
    buffer.unlock();
    buffers.push(buffer);
  }

  const results = await compiled.run(sig.index, buffers);
  // LiteRT's low-level run reports kernels that fail to prepare or invoke
  // only as ERROR log lines and returns untouched buffers: treat those as
  // failures.
  if (liteRtErrors.length)
    fail(`LiteRT failed to run '${sig.key}':\n${liteRtErrors.join('\n')}`);
  fs.mkdirSync(args.outputs, {recursive: true});
  const outputs = [];
  for (const [i, output] of sig.outputs.entries()) {
    const buffer = results[i];
    const ptr = buffer.lock(wasm.LiteRtTensorBufferLockMode.READ);
    const bytes = wasm.HEAPU8.slice(ptr, ptr + buffer.packedSize());
    buffer.unlock();
    const file = `${step}.${output.name}.bin`;
    fs.writeFileSync(path.join(args.outputs, file), bytes);
    outputs.push({name: output.name, file, shape: output.shape, dtype: output.dtype});
    buffer.delete();
  }
  for (const b of buffers) b.delete();

  const indexPath = path.join(args.outputs, 'index.json');
  const outIndex = fs.existsSync(indexPath) ? JSON.parse(fs.readFileSync(indexPath, 'utf8')) : {};
  outIndex[step] = {inputs: index[step].inputs, outputs};
  fs.writeFileSync(indexPath, JSON.stringify(outIndex, null, 1) + '\n');
  process.stdout.write(`ran '${sig.key}' in LiteRT: ${outputs.map((o) => `${o.name} ${o.dtype}[${o.shape}]`).join(', ')}\n`);
}

// Every ERROR line LiteRT writes (through Emscripten's stderr).
const liteRtErrors = [];
const writeStderr = process.stderr.write.bind(process.stderr);
process.stderr.write = (chunk, ...rest) => {
  for (const line of String(chunk).split('\n'))
    if (line.startsWith('ERROR:')) liteRtErrors.push(line);
  return writeStderr(chunk, ...rest);
};

main().then(() => process.exit(0), (e) => fail(e && e.stack ? e.stack : String(e)));
