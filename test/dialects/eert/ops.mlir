// RUN: ee-opt %s | ee-opt | FileCheck %s
// RUN: ee-opt %s --mlir-print-op-generic | ee-opt | FileCheck %s

// One op per runtime entry point of abi.def, each round-tripped.
// CHECK-LABEL: func.func @every_entry_point
func.func @every_entry_point(%p: !llvm.ptr, %n: i64, %f: f32) {
  // CHECK: eert.embedding_lookup %{{.*}} : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> i32
  %0 = eert.embedding_lookup %p, %p, %p, %n, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> i32
  // CHECK: eert.rms_norm
  eert.rms_norm %p, %p, %p, %n, %n, %f : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> ()
  // CHECK: eert.linear
  eert.linear %p, %p, %p, %n, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> ()
  // CHECK: eert.rotary
  eert.rotary %p, %p, %p, %n, %n, %n, %f : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, f32) -> ()
  // CHECK: eert.attention %{{.*}} : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64) -> ()
  eert.attention %p, %p, %p, %p, %n, %n, %n, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64) -> ()
  // CHECK: eert.attention_cached
  %1 = eert.attention_cached %p, %p, %p, %p, %p, %p, %p, %p, %n, %n, %n, %n, %n, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64) -> i32
  // CHECK: eert.swiglu
  eert.swiglu %p, %p, %p, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64) -> ()
  // CHECK: eert.add
  eert.add %p, %p, %p, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64) -> ()
  // CHECK: eert.cross_entropy
  %2 = eert.cross_entropy %p, %p, %p, %n, %n, %f : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> i32
  // CHECK: eert.exit_confidence
  eert.exit_confidence %p, %p, %n, %n : (!llvm.ptr, !llvm.ptr, i64, i64) -> ()
  // CHECK: eert.sample
  %3 = eert.sample %p, %n, %f, %n, %f, %p : (!llvm.ptr, i64, f32, i64, f32, !llvm.ptr) -> i32
  // CHECK: eert.last_error : () -> !llvm.ptr
  %4 = eert.last_error : () -> !llvm.ptr
  return
}
