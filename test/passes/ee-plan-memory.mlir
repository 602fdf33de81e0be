// RUN: ee-opt %s -ee-plan-memory -split-input-file -verify-diagnostics | FileCheck %s

// Activations get per-token offsets (8 features: 32 bytes, aligned to 64) by
// first fit over live ranges: %y is free after the linear that last reads it,
// so the add reuses its slice. Parameters need no buffer of their own.
// CHECK-LABEL: func.func @activations
// CHECK-SAME: ee.arena = #ee.arena<per_token_bytes = 128, fixed_bytes = 0>
// CHECK: ee.get_parameter @norm : tensor<8xf32>
// CHECK: ee.rms_norm {{.*}} {ee.buffers = [#ee.buffer<per_token, 0>]}
// CHECK: ee.linear {{.*}} {ee.buffers = [#ee.buffer<per_token, 64>]}
// CHECK: ee.add {{.*}} {ee.buffers = [#ee.buffer<per_token, 0>]}
module {
  ee.parameter @norm : tensor<8xf32>
  ee.parameter @head : tensor<8x8xf32>
  func.func @activations(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
    %n = ee.get_parameter @norm : tensor<8xf32>
    %h = ee.get_parameter @head : tensor<8x8xf32>
    %y = ee.rms_norm %x, %n eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %z = ee.linear %y, %h : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %u = ee.add %z, %z : tensor<?x?x8xf32>
    return %u : tensor<?x?x8xf32>
  }
}

// -----

// Weight-shaped tensors live in the fixed region, scalars in slots of their
// own after it. An all-reduce of a gradient nothing else reads sums its own
// buffer: the wait delivers it in place (no buffer), and the gradient's slice
// stays taken until the sum's last read. A received tensor's buffer is the
// wait's, taken from the receive on. Requests and the scalar come last.
// CHECK-LABEL: func.func @fixed
// CHECK-SAME: ee.arena = #ee.arena<per_token_bytes = 0, fixed_bytes = 1216>
// CHECK: %[[G:.*]] = ee.linear_grad_weight {{.*}} {ee.buffers = [#ee.buffer<fixed, 0>]}
// CHECK: ee.all_reduce_start %[[G]] over dp {ee.buffers = [#ee.buffer<fixed, 1024>]}
// CHECK: ee.recv from 1 tag 0 {ee.buffers = [#ee.buffer<fixed, 1088>]}
// CHECK: ee.linear_grad_weight {{.*}} {ee.buffers = [#ee.buffer<fixed, 512>]}
// CHECK: %[[SUM:.*]] = ee.wait %{{.*}} : !ee.request<tensor<8x8xf32>> -> tensor<8x8xf32>
// CHECK: ee.wait %{{.*}} {ee.buffers = [#ee.buffer<fixed, 256>]} : !ee.request<tensor<8x8xf32>> -> tensor<8x8xf32>
// CHECK: ee.add {{.*}} {ee.buffers = [#ee.buffer<fixed, 768>]}
// CHECK: ee.inner_product %[[SUM]], %[[SUM]] {ee.buffers = [#ee.buffer<fixed, 1152>]}
module {
  ee.parameter @norm : tensor<8xf32>
  func.func @fixed(%x: tensor<?x?x8xf32>, %dy: tensor<?x?x8xf32>) -> (f32, tensor<8x8xf32>) {
    %g = ee.linear_grad_weight %dy, %x : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
    %r = ee.all_reduce_start %g over dp : tensor<8x8xf32> -> !ee.request<tensor<8x8xf32>>
    %in = ee.recv from 1 tag 0 : !ee.request<tensor<8x8xf32>>
    %g2 = ee.linear_grad_weight %x, %dy : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
    %sum = ee.wait %r : !ee.request<tensor<8x8xf32>> -> tensor<8x8xf32>
    %got = ee.wait %in : !ee.request<tensor<8x8xf32>> -> tensor<8x8xf32>
    %both = ee.add %got, %g2 : tensor<8x8xf32>
    %sq = ee.inner_product %sum, %sum : tensor<8x8xf32>
    return %sq, %both : f32, tensor<8x8xf32>
  }
}

// -----

// bf16 values take 2 bytes per element: the bf16 norm (64 features) needs
// 128 bytes per token, the f32 product of it 256; the rounded product reuses
// the norm's slice and a second bf16 norm takes half of the product's freed
// slice. A bf16 weight-shaped tensor takes half the fixed bytes of its f32
// source.
// CHECK-LABEL: func.func @bf16
// CHECK-SAME: ee.arena = #ee.arena<per_token_bytes = 384, fixed_bytes = 6144>
// CHECK: ee.rms_norm {{.*}} {ee.buffers = [#ee.buffer<per_token, 0>]} : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
// CHECK: ee.linear {{.*}} {ee.buffers = [#ee.buffer<per_token, 128>]} : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
// CHECK: ee.convert {{.*}} {ee.buffers = [#ee.buffer<per_token, 0>]} : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
// CHECK: ee.linear_grad_weight {{.*}} {ee.buffers = [#ee.buffer<fixed, 0>]} : {{.*}} -> tensor<16x64xf32>
// CHECK: ee.convert {{.*}} {ee.buffers = [#ee.buffer<fixed, 4096>]} : tensor<16x64xf32> -> tensor<16x64xbf16>
// CHECK: ee.rms_norm {{.*}} {ee.buffers = [#ee.buffer<per_token, 128>]} : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
module {
  ee.parameter @norm : tensor<64xbf16>
  ee.parameter @proj : tensor<64x64xbf16>
  func.func @bf16(%x: tensor<?x?x64xf32>, %dy: tensor<?x?x16xf32>)
      -> (tensor<?x?x64xbf16>, tensor<16x64xbf16>, tensor<?x?x64xbf16>) {
    %g = ee.get_parameter @norm : tensor<64xbf16>
    %w = ee.get_parameter @proj : tensor<64x64xbf16>
    %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
    %a = ee.linear %n, %w : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
    %ab = ee.convert %a : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
    %d = ee.linear_grad_weight %dy, %x : tensor<?x?x16xf32>, tensor<?x?x64xf32> -> tensor<16x64xf32>
    %db = ee.convert %d : tensor<16x64xf32> -> tensor<16x64xbf16>
    %n2 = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
    return %ab, %db, %n2 : tensor<?x?x64xbf16>, tensor<16x64xbf16>, tensor<?x?x64xbf16>
  }
}

// -----

module {
  // expected-error @+1 {{ee-plan-memory needs single-block functions}}
  func.func @branches(%c: i1) {
    cf.cond_br %c, ^a, ^b
  ^a:
    return
  ^b:
    return
  }
}

// -----

// A head's token choice: its i32 decisions and tokens and its i64 random
// states are per-token values like the confidence (4 and 8 bytes a token,
// each slot aligned to 64); the choice and state inputs need no buffer.
// CHECK-LABEL: func.func @choose
// CHECK-SAME: ee.arena = #ee.arena<per_token_bytes = 320, fixed_bytes = 0>
// CHECK: ee.exit_confidence {{.*}} {ee.buffers = [#ee.buffer<per_token, 0>]}
// CHECK: ee.exit_decision {{.*}} {ee.buffers = [#ee.buffer<per_token, 64>, #ee.buffer<per_token, 128>, #ee.buffer<per_token, 192>, #ee.buffer<per_token, 256>]}
module {
  func.func @choose(%l: tensor<?x?x32xf32>, %choice: tensor<?x?x4xf32>, %state: tensor<?x?xi64>)
      -> (tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>) {
    %c = ee.exit_confidence %l : tensor<?x?x32xf32> -> tensor<?x?xf32>
    %d:4 = ee.exit_decision %l, %c, %choice, %state
        : tensor<?x?x32xf32>, tensor<?x?xf32>, tensor<?x?x4xf32>, tensor<?x?xi64>
        -> tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
    return %d#0, %d#1, %d#2, %d#3 : tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
  }
}
