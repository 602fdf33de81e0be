// RUN: ee-opt %s -split-input-file -verify-diagnostics

// Operands follow the C signature: buffers are pointers ...
func.func @f(%n: i64, %f: f32) {
  // expected-error @+1 {{operand #0 must be LLVM pointer type}}
  eert.rms_norm %n, %n, %n, %n, %n, %f : (i64, i64, i64, i64, i64, f32) -> ()
  return
}

// -----

// ... sizes are i64 ...
func.func @f(%p: !llvm.ptr, %f: f32) {
  // expected-error @+1 {{operand #3 must be 64-bit signless integer}}
  eert.add %p, %p, %p, %f : (!llvm.ptr, !llvm.ptr, !llvm.ptr, f32) -> ()
  return
}

// -----

// ... and there are exactly as many as the function takes.
func.func @f(%p: !llvm.ptr, %n: i64) {
  // expected-error @+1 {{expected 4 operands, but found 3}}
  eert.add %p, %p, %p : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
  return
}
