// --compare (two functions of one module, or two files), metrics against a
// reference folder, --max-abs-error, --bench, --output-dir.
// RUN: rm -rf %t && mkdir -p %t
// RUN: kiln-run --compare %s@batched %s@per_head --random-inputs --seed 3 | FileCheck %s --check-prefix=CMP
// CMP: B {{.*}}compare-bench.mlir@per_head vs A {{.*}}compare-bench.mlir@batched
// CMP-NEXT: output shape max_abs mean_abs peir cosine
// CMP-NEXT: output.0 [1, 2, 4, 8] {{[0-9].[0-9]+e-(0[6-9]|[1-9][0-9])|0.000e\+00}} {{[0-9.e+-]+}} {{[0-9.e+-]+}} {{1.0000000|0.9999999}}

// A variant that is off by 1e-3 fails a 1e-4 tolerance (and the same-file
// form takes --function for both sides).
// RUN: not kiln-run --compare %s %s@perturbed --function batched --random-inputs --max-abs-error 1e-4 | FileCheck %s --check-prefix=TOL
// TOL: output.0 [1, 2, 4, 8] 1.0{{[0-9]*}}e-03 {{.*}} EXCEEDS TOLERANCE

// Two different files: B's @perturbed adds 2e-3 instead of 1e-3.
// RUN: sed -e 's/dense<1.0e-3>/dense<2.0e-3>/' %s > %t/b.mlir
// RUN: kiln-run --compare %s %t/b.mlir --function perturbed --random-inputs | FileCheck %s --check-prefix=FILES
// FILES: B {{.*}}b.mlir@perturbed vs A {{.*}}compare-bench.mlir@perturbed
// FILES: output.0 [1, 2, 4, 8] 1.0{{[0-9]*}}e-03 1.0{{[0-9]*}}e-03

// Metrics against a reference folder written by numpy; both variants are
// compared with the reference too.
// RUN: %python %S/Inputs/attention_ref.py %t/ref
// RUN: kiln-run %s --function batched --inputs-from %t/ref --step attention --max-abs-error 1e-5 --output-dir %t/out | FileCheck %s --check-prefix=REF
// REF: @batched vs reference {{.*}}ref step 'attention'
// REF: context [1, 2, 4, 8]
// The output folder is a kiln_torch reference folder too.
// RUN: %python -c "from kiln_torch.reference import read_reference as r; o = r('%t/out')['attention']['outputs']; e = r('%t/ref')['attention']['outputs']; print(o[0][0], tuple(o[0][1].shape), float((o[0][1] - e[0][1]).abs().max()) < 1e-5)" | FileCheck %s --check-prefix=OUT
// OUT: context (1, 2, 4, 8) True
// RUN: kiln-run --compare %s@batched %s@per_head --inputs-from %t/ref --step attention | FileCheck %s --check-prefix=REF2
// REF2: B {{.*}}@per_head vs A {{.*}}@batched
// REF2: context
// REF2: A {{.*}}@batched vs reference
// REF2: B {{.*}}@per_head vs reference

// RUN: kiln-run %s --function batched --random-inputs --bench 5 --warmup 1 | FileCheck %s --check-prefix=BENCH
// BENCH: @batched: {{[0-9.]+}} ms per call (median {{[0-9.]+}}, min {{[0-9.]+}}; 5 calls after 1 warm-up, {{[0-9]+}} threads)
// RUN: kiln-run --compare %s@batched %s@per_head --random-inputs --bench 5 | FileCheck %s --check-prefix=BENCH2
// BENCH2: time per call: A {{[0-9.]+}} ms, B {{[0-9.]+}} ms {{.*}}; B/A = {{[0-9.]+}}

func.func @batched(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = kiln.matmul %q, %k {adj_y = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %p = kiln.softmax %s dim = -1 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %c = kiln.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %c : tensor<1x2x4x8xf32>
}

func.func private @head(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %h: i64) -> tensor<1x1x4x8xf32> {
  %qh = kiln.select %q dim = 1 [%h] : (tensor<1x2x4x8xf32>) -> tensor<1x4x8xf32>
  %kh = kiln.select %k dim = 1 [%h] : (tensor<1x2x4x8xf32>) -> tensor<1x4x8xf32>
  %vh = kiln.select %v dim = 1 [%h] : (tensor<1x2x4x8xf32>) -> tensor<1x4x8xf32>
  %kt = kiln.transpose %kh 1, 2 : (tensor<1x4x8xf32>) -> tensor<1x8x4xf32>
  %s = kiln.matmul %qh, %kt : (tensor<1x4x8xf32>, tensor<1x8x4xf32>) -> tensor<1x4x4xf32>
  %p = kiln.softmax %s dim = -1 : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %c = kiln.matmul %p, %vh : (tensor<1x4x4xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %u = kiln.unsqueeze %c dim = 1 : (tensor<1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %u : tensor<1x1x4x8xf32>
}

func.func @per_head(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %h0 = func.call @head(%q, %k, %v, %c0) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, i64) -> tensor<1x1x4x8xf32>
  %h1 = func.call @head(%q, %k, %v, %c1) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, i64) -> tensor<1x1x4x8xf32>
  %r = kiln.cat %h0, %h1 dim = 1 : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %r : tensor<1x2x4x8xf32>
}

func.func @perturbed(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %c = func.call @batched(%q, %k, %v) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %e = kiln.constant dense<1.0e-3> : tensor<f32>
  %r = kiln.add %c, %e : (tensor<1x2x4x8xf32>, tensor<f32>) -> tensor<1x2x4x8xf32>
  return %r : tensor<1x2x4x8xf32>
}

// Outputs are named after the results' kiln.name (NAME.K inside a tuple).
// RUN: kiln-run %s --function named --random-inputs --output-dir %t/named
// RUN: %python -c "import json; print([e['file'] for e in json.load(open('%t/named/index.json'))['named']['outputs']])" | FileCheck %s --check-prefix=NAMED
// NAMED: ['named.context.bin', 'named.kv.0.bin', 'named.kv.1.bin']
func.func @named(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32> {kiln.name = "context"}, tuple<tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>> {kiln.name = "kv"}) {
  %t = kiln.tuple %q, %k : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> tuple<tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>>
  return %q, %t : tensor<1x2x4x8xf32>, tuple<tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>>
}
