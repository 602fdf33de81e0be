// RUN: ee-opt %s -eert-to-llvm -split-input-file -verify-diagnostics | FileCheck %s --implicit-check-not=eert.

// Each eert op becomes a call of the runtime function declared from abi.def;
// each function is declared once.
// CHECK-DAG: llvm.func @eert_rms_norm(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32)
// CHECK-DAG: llvm.func @eert_embedding_lookup(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> i32
// CHECK-DAG: llvm.func @eert_sample(!llvm.ptr, i64, f32, i64, f32, !llvm.ptr) -> i32
// bf16 buffers are pointers too.
// CHECK-DAG: llvm.func @eert_linear_bf16_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64)
// CHECK-DAG: llvm.func @eert_adamw_bf16(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, f32, f32, f32, f32, f32, f32, i64)
// Token and random-state buffers (EERT_IDS_OUT, EERT_U64_IN) are pointers too.
// CHECK-DAG: llvm.func @eert_exit_decision(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64) -> i32
// CHECK-LABEL: func.func @calls
func.func @calls(%p: !llvm.ptr, %n: i64, %f: f32) -> (i32, i32) {
  // CHECK: %[[S:.*]] = llvm.call @eert_embedding_lookup(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> i32
  %s = eert.embedding_lookup %p, %p, %p, %n, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> i32
  // CHECK: llvm.call @eert_rms_norm(%{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> ()
  eert.rms_norm %p, %p, %p, %n, %n, %f : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> ()
  // CHECK: llvm.call @eert_rms_norm
  eert.rms_norm %p, %p, %p, %n, %n, %f : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> ()
  // CHECK: %[[T:.*]] = llvm.call @eert_sample
  %t = eert.sample %p, %n, %f, %n, %f, %p : (!llvm.ptr, i64, f32, i64, f32, !llvm.ptr) -> i32
  // CHECK: llvm.call @eert_linear_bf16_f32(%{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> ()
  eert.linear_bf16_f32 %p, %p, %p, %n, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> ()
  // CHECK: llvm.call @eert_adamw_bf16(%{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, f32, f32, f32, f32, f32, f32, i64) -> ()
  eert.adamw_bf16 %p, %p, %p, %p, %p, %n, %f, %f, %f, %f, %f, %f, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, f32, f32, f32, f32, f32, f32, i64) -> ()
  // CHECK: llvm.call @eert_exit_decision(%{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64) -> i32
  %d = eert.exit_decision %p, %p, %p, %p, %p, %p, %p, %p, %n, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64) -> i32
  // CHECK: return %[[S]], %[[T]]
  return %s, %t : i32, i32
}

// -----

// A declaration already in the module is reused when it matches.
// CHECK-LABEL: llvm.func @eert_add(
llvm.func @eert_add(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64)
// CHECK-LABEL: func.func @reuse
func.func @reuse(%p: !llvm.ptr, %n: i64) {
  // CHECK: llvm.call @eert_add
  eert.add %p, %p, %p, %n : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64) -> ()
  return
}
