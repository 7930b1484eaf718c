// Out-of-line buffers (the layout of files over 2 GB), forced on a small
// module: constant data follows the FlatBuffer, Buffer.offset counts from the
// start of the file, 16-byte aligned; metadata stays inline.
// RUN: kiln-translate --mlir-to-circle --force-external-buffers %s -o %t.circle
// RUN: kiln-translate --circle-dump %t.circle | FileCheck %s
// Check the layout with flatc's decoding and the raw file bytes.
// RUN: rm -rf %t.d && mkdir %t.d && cp %t.circle %t.d/model.circle
// RUN: flatc --json --strict-json -o %t.d %kiln_circle_schema -- %t.d/model.circle
// RUN: %python %s.py %t.d/model.json %t.d/model.circle | FileCheck %s --check-prefix=RAW
// The reader follows the offsets: the round trip gives the same file.
// RUN: kiln-translate --circle-to-mlir --mlir-print-debuginfo %t.circle -o %t.mlir
// RUN: kiln-translate --mlir-to-circle --force-external-buffers %t.mlir -o %t.again.circle
// RUN: cmp %t.circle %t.again.circle
// Without the flag (small model): inline data, a different file.
// RUN: kiln-translate --mlir-to-circle %s -o %t.inline.circle
// RUN: kiln-translate --circle-dump %t.inline.circle | FileCheck %s --check-prefix=INLINE

// CHECK: buffers: 5
// CHECK-NEXT: buffer #0 empty
// CHECK-NEXT: buffer #1 external 16 bytes at offset [[OFF1:[0-9]+]] (16-aligned)
// CHECK-NEXT: buffer #2 external 3 bytes at offset [[OFF2:[0-9]+]] (16-aligned)
// CHECK-NEXT: buffer #3 external 8 bytes at offset [[OFF3:[0-9]+]] (16-aligned)
// CHECK-NEXT: buffer #4 inline 5 bytes at offset {{[0-9]+}} (16-aligned)
// INLINE: buffer #1 inline 16 bytes
// INLINE-NEXT: buffer #2 inline 3 bytes
// INLINE-NEXT: buffer #3 inline 8 bytes

// RAW: buffer 1 external aligned in-order [1.0, 2.0, 3.0, 4.0]
// RAW-NEXT: buffer 2 external aligned in-order [0x21, 0x43, 0x05]
// RAW-NEXT: buffer 3 external aligned in-order [1, 2]
// RAW-NEXT: file ends at the last buffer: True

func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<5xf32>, tensor<2xi32>) {
  %w = circle.const dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %y = circle.mul %x, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %q = circle.const dense<[1, 2, 3, 4, 5]> : tensor<5xi4> as tensor<5x!quant.uniform<i4:f32, 0.5>>
  %d = circle.dequantize %q : (tensor<5x!quant.uniform<i4:f32, 0.5>>) -> tensor<5xf32>
  %s = circle.const dense<[1, 2]> : tensor<2xi32>
  %c = circle.cast %s : (tensor<2xi32>) -> tensor<2xi32>
  return %y, %d, %c : tensor<4xf32>, tensor<5xf32>, tensor<2xi32>
}
