// Constants past 2 GiB (two splats of 1.2 GB): a FlatBuffer cannot hold
// them, so the writer puts every buffer after it by itself (no flag), at
// 64-bit offsets past 2^31, each streamed in pieces: the write runs under a
// 1 GB address-space limit (ulimit -v, KiB), so no copy of the 2.4 GB is
// ever in memory. The files are removed at the end.
// RUN: rm -f %t.circle
// RUN: bash -c 'ulimit -v 1000000; exec kiln-translate --mlir-to-circle %s -o %t.circle'
// RUN: kiln-translate --circle-dump %t.circle | FileCheck %s
// RUN: %python -c "import struct, sys; f = open(sys.argv[1], 'rb'); f.seek(int(sys.argv[2])); a = struct.unpack('<2f', f.read(8)); f.seek(int(sys.argv[3]) - 8); b = struct.unpack('<2f', f.read(8)); print(a, b, f.read() == b'')" %t.circle 896 2400000896 | FileCheck %s --check-prefix=DATA
// RUN: rm -f %t.circle

// Below 2 GiB the data stays inline (800 MB here), streamed the same way
// into room the builder reserves but never touches: peak RSS stays far
// below the file's size. Where that room cannot be mapped (the address-space
// limit again) the writer falls back to out-of-line buffers.
// RUN: %python %S/Inputs/maxrss.py 300 kiln-translate --mlir-to-circle %S/Inputs/splat-800mb.mlir -o %t.mid.circle | FileCheck %s --check-prefix=RSS
// RSS: exit 0 peak RSS below 300 MB: True
// RUN: kiln-translate --circle-dump %t.mid.circle | FileCheck %s --check-prefix=MID
// MID: buffer #1 inline 800000000 bytes at offset {{[0-9]+}} (16-aligned)
// RUN: bash -c 'ulimit -v 1000000; exec kiln-translate --mlir-to-circle %S/Inputs/splat-800mb.mlir -o %t.mid.circle'
// RUN: kiln-translate --circle-dump %t.mid.circle | FileCheck %s --check-prefix=FALLBACK
// FALLBACK: buffer #1 external 800000000 bytes at offset {{[0-9]+}} (16-aligned)
// RUN: rm -f %t.mid.circle

// CHECK: circle model: identifier CIR0, version 0, description "Kiln {{.*}}", 2400000896 bytes
// CHECK: buffer #1 external 1200000000 bytes at offset 896 (16-aligned)
// CHECK-NEXT: buffer #2 external 1200000000 bytes at offset 1200000896 (16-aligned)
// CHECK-NEXT: buffer #3 inline {{[0-9]+}} bytes
// DATA: (1.5, 1.5) (2.5, 2.5) True

func.func @main(%x: tensor<300000000xf32>) -> (tensor<300000000xf32>, tensor<300000000xf32>) {
  %a = circle.const dense<1.5> : tensor<300000000xf32>
  %b = circle.const dense<2.5> : tensor<300000000xf32>
  %y = circle.mul %x, %a : (tensor<300000000xf32>, tensor<300000000xf32>) -> tensor<300000000xf32>
  %z = circle.mul %x, %b : (tensor<300000000xf32>, tensor<300000000xf32>) -> tensor<300000000xf32>
  return %y, %z : tensor<300000000xf32>, tensor<300000000xf32>
}
