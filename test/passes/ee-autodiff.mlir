// RUN: ee-opt %s -ee-autodiff -split-input-file -verify-diagnostics | FileCheck %s
// RUN: ee-opt %s -ee-autodiff="recompute=full" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FULL

// The backward pass in reverse program order, one rule per op; the gradient of
// a weight read twice (here the tied embedding) is accumulated with ee.add; the
// results are (loss, gradients in parameter order, the other results).
ee.parameter @emb : tensor<32x8xf32>
ee.parameter @norm : tensor<8xf32>
// CHECK-LABEL: func.func @loss_grad(
// CHECK-SAME: -> (f32, tensor<32x8xf32>, tensor<8xf32>, f32)
// CHECK: %[[E:.*]] = ee.get_parameter @emb
// CHECK: %[[X:.*]] = ee.embedding_lookup %[[E]]
// CHECK: %[[N:.*]] = ee.rms_norm %[[X]]
// CHECK: %[[L:.*]] = ee.logits %[[N]], %[[E]]
// CHECK: %[[CE:.*]] = ee.cross_entropy %[[L]]
// CHECK: %[[W:.*]] = ee.loss_weight
// CHECK: %[[LOSS:.*]] = arith.mulf %[[W]], %[[CE]]
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[DCE:.*]] = arith.mulf %[[ONE]], %[[W]]
// CHECK: %[[DL:.*]] = ee.cross_entropy_grad %[[L]], %{{.*}}, %[[DCE]] temperature 2.000000e+00
// CHECK: %[[DN:.*]] = ee.linear_grad_input %[[DL]], %[[E]]
// CHECK: %[[DE1:.*]] = ee.linear_grad_weight %[[DL]], %[[N]]
// CHECK: %[[DX:.*]], %[[DW:.*]] = ee.rms_norm_grad %[[X]], %{{.*}}, %[[DN]]
// CHECK: %[[DE2:.*]] = ee.embedding_grad %{{.*}}, %[[DX]]
// CHECK: %[[DE:.*]] = ee.add %[[DE1]], %[[DE2]] : tensor<32x8xf32>
// CHECK: return %[[LOSS]], %[[DE]], %[[DW]], %[[CE]]
func.func @loss(%ids: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %iter: i64) -> (f32, f32) {
  %e = ee.get_parameter @emb : tensor<32x8xf32>
  %x = ee.embedding_lookup %e, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
  %w = ee.get_parameter @norm : tensor<8xf32>
  %n = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
  %l = ee.logits %n, %e : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x32xf32>
  %ce = ee.cross_entropy %l, %labels temperature 2.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  %s = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 10, style = linear>
  %loss = arith.mulf %s, %ce : f32
  return %loss, %ce : f32, f32
}

// -----

// Full recomputation keeps the residual stream (ee.add) and recomputes the
// rest of a block just before its backward rules read it.
ee.parameter @w1 : tensor<8x8xf32>
// FULL-LABEL: func.func @loss_grad(
// FULL: %[[A:.*]] = ee.linear %[[X:.*]], %[[W:.*]] :
// FULL: %[[S:.*]] = ee.swiglu %[[A]], %[[A]]
// FULL: %[[R:.*]] = ee.add %[[S]], %[[X]]
// FULL: ee.cross_entropy_grad
// Recomputed for the backward pass:
// FULL: %[[A2:.*]] = ee.linear %[[X]], %[[W]] :
// FULL: ee.swiglu_grad %[[A2]], %[[A2]]
func.func @loss(%x: tensor<?x?x8xf32>, %labels: tensor<?x?xi32>) -> f32 {
  %w = ee.get_parameter @w1 : tensor<8x8xf32>
  %a = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  %s = ee.swiglu %a, %a : tensor<?x?x8xf32>
  %r = ee.add %s, %x : tensor<?x?x8xf32>
  %ce = ee.cross_entropy %r, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %ce : f32
}

// -----

// Generation-only ops have no rule.
ee.parameter @wk : tensor<4x8xf32>
func.func @loss(%q: tensor<?x?x8xf32>, %x: tensor<?x?x8xf32>, %kc: tensor<?x16x4xf32>,
                %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>) -> f32 {
  %w = ee.get_parameter @wk : tensor<4x8xf32>
  %k = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x4xf32>
  // expected-error @+1 {{ee-autodiff cannot differentiate attention over a KV cache}}
  %o, %k2, %v2 = ee.attention %q, %k, %k cache(%kc, %kc) positions(%pos) heads 2 kv_heads 1
      : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x16x4xf32>,
         tensor<?x16x4xf32>, tensor<?x?xi32>) -> (tensor<?x?x8xf32>, tensor<?x16x4xf32>, tensor<?x16x4xf32>)
  %ce = ee.cross_entropy %o, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %ce : f32
}

// -----

// expected-error @+1 {{'@unused' does not affect 'loss': it has no gradient}}
ee.parameter @unused : tensor<8xf32>
func.func @loss(%x: tensor<?x?x8xf32>, %labels: tensor<?x?xi32>) -> f32 {
  %ce = ee.cross_entropy %x, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %ce : f32
}

// -----

// A stage's surrogate loss (ee.differentiate: also with respect to argument
// 0), split at its late argument %g (ee.split_backward): the forward part
// runs without %g and returns the reported results and what the backward
// part reads; the backward part recomputes the parameter reads and moves the
// inner product with %g after the forward pass.
ee.parameter @wn : tensor<8xf32>
func.func @loss(%x: tensor<?x?x8xf32>, %labels: tensor<?x?xi32>) -> f32 {
  %n = ee.get_parameter @wn : tensor<8xf32>
  %y = ee.rms_norm %x, %n eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
  %ce = ee.cross_entropy %y, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %ce : f32
}
func.func @stage(%x: tensor<?x?x8xf32>, %labels: tensor<?x?xi32>, %g: tensor<?x?x8xf32>)
    -> (f32, f32, tensor<?x?x8xf32>)
    attributes {ee.differentiate = array<i64: 0>, ee.split_backward = array<i64: 2>} {
  %n = ee.get_parameter @wn : tensor<8xf32>
  %y = ee.rms_norm %x, %n eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
  %ce = ee.cross_entropy %y, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  %p = ee.inner_product %y, %g : tensor<?x?x8xf32>
  %aux = arith.addf %ce, %p : f32
  return %aux, %ce, %y : f32, f32, tensor<?x?x8xf32>
}
// CHECK-LABEL: func.func @stage_fwd(%arg0: tensor<?x?x8xf32>, %arg1: tensor<?x?xi32>)
// CHECK-SAME: -> (f32, tensor<?x?x8xf32>, tensor<?x?x8xf32>, f32)
// CHECK: %[[Y:.*]] = ee.rms_norm %arg0
// CHECK: %[[CE:.*]] = ee.cross_entropy %[[Y]]
// CHECK-NOT: ee.inner_product
// CHECK: return %[[CE]], %[[Y]], %[[Y]], %[[CE]]
// CHECK-LABEL: func.func @stage_bwd(%arg0: tensor<?x?x8xf32>, %arg1: tensor<?x?xi32>, %arg2: tensor<?x?x8xf32>, %arg3: tensor<?x?x8xf32>, %arg4: f32)
// CHECK-SAME: -> (f32, tensor<8xf32>, tensor<?x?x8xf32>)
// CHECK-SAME: ee.gradients = ["wn"]
// CHECK: %[[N:.*]] = ee.get_parameter @wn
// CHECK: %[[P:.*]] = ee.inner_product %arg3, %arg2
// CHECK: %[[AUX:.*]] = arith.addf %arg4, %[[P]]
// CHECK: ee.scale %arg2
// CHECK: ee.cross_entropy_grad %arg3, %arg1
// CHECK: %[[DX:.*]], %[[DW:.*]] = ee.rms_norm_grad %arg0, %[[N]]
// CHECK: return %[[AUX]], %[[DW]], %[[DX]]
// CHECK-NOT: func.func @stage_grad

// -----

// Pipeline traffic in the IR: a middle stage receives its input from the
// previous stage and sends its output to the next. The send's adjoint is a
// receive of the output's gradient from the next stage (same tag); the
// received input is differentiable, and its gradient is sent back to the
// previous stage, that send waited on just before the return.
ee.parameter @wn : tensor<8xf32>
func.func @loss(%labels: tensor<?x?xi32>, %b: index, %s: index) -> f32 {
  %in = ee.recv from -1 tag 2 shape(%b, %s) : !ee.request<tensor<?x?x8xf32>>
  %x = ee.wait %in : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
  %n = ee.get_parameter @wn : tensor<8xf32>
  %y = ee.rms_norm %x, %n eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
  %out = ee.send %y to 1 tag 2 : tensor<?x?x8xf32> -> !ee.request
  %ce = ee.cross_entropy %y, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  ee.wait %out : !ee.request
  return %ce : f32
}
// CHECK-LABEL: func.func @loss_grad
// CHECK: %[[IN:.*]] = ee.recv from -1 tag 2 shape(%{{.*}}, %{{.*}})
// CHECK: %[[X:.*]] = ee.wait %[[IN]]
// CHECK: %[[Y:.*]] = ee.rms_norm %[[X]]
// CHECK: %[[OUT:.*]] = ee.send %[[Y]] to 1 tag 2
// CHECK: ee.wait %[[OUT]] : !ee.request
// CHECK: %[[DCE:.*]] = ee.cross_entropy_grad %[[Y]]
// CHECK: %[[B:.*]] = tensor.dim %[[Y]], %c0
// CHECK: %[[S:.*]] = tensor.dim %[[Y]], %c1
// CHECK: %[[BACK:.*]] = ee.recv from 1 tag 2 shape(%[[B]], %[[S]]) : !ee.request<tensor<?x?x8xf32>>
// CHECK: %[[DY:.*]] = ee.wait %[[BACK]] : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
// CHECK: %[[SUM:.*]] = ee.add %[[DCE]], %[[DY]]
// CHECK: %[[DX:.*]], %[[DW:.*]] = ee.rms_norm_grad %[[X]], %{{.*}}, %[[SUM]]
// CHECK: %[[SENT:.*]] = ee.send %[[DX]] to -1 tag 2 : tensor<?x?x8xf32> -> !ee.request
// CHECK-NEXT: ee.wait %[[SENT]] : !ee.request
// CHECK-NEXT: return %{{.*}}, %[[DW]]

// -----

// Collectives are inserted after the backward pass; waiting on one in the
// objective has no rule.
ee.parameter @wn : tensor<8xf32>
func.func @loss(%x: tensor<?x?x8xf32>, %labels: tensor<?x?xi32>) -> f32 {
  %n = ee.get_parameter @wn : tensor<8xf32>
  %r = ee.all_reduce_start %n over tp : tensor<8xf32> -> !ee.request<tensor<8xf32>>
  // expected-error @+1 {{ee-autodiff differentiates the wait of an ee.recv only}}
  %m = ee.wait %r : !ee.request<tensor<8xf32>> -> tensor<8xf32>
  %y = ee.rms_norm %x, %m eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
  %ce = ee.cross_entropy %y, %labels temperature 1.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %ce : f32
}

// -----

// bf16 weights and product inputs get f32 gradients: the f32 output gradient
// of a bf16 product is rounded once to bf16 for both backward products, which
// accumulate in f32; the gradient of the forward ee.convert passes through as
// it is (f32) to the norm, whose bf16 weight gets an f32 gradient.
ee.parameter @ln : tensor<8xbf16>
ee.parameter @w : tensor<16x8xbf16>
// CHECK-LABEL: func.func @loss_grad(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x?x8xf32>, %[[LABELS:[^:]*]]: tensor<?x?xi32>)
// CHECK-SAME: -> (f32, tensor<8xf32>, tensor<16x8xf32>)
// CHECK-SAME: ee.gradients = ["ln", "w"]
// CHECK: %[[G:.*]] = ee.get_parameter @ln : tensor<8xbf16>
// CHECK: %[[N:.*]] = ee.rms_norm %[[X]], %[[G]]
// CHECK: %[[NB:.*]] = ee.convert %[[N]] : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
// CHECK: %[[W:.*]] = ee.get_parameter @w : tensor<16x8xbf16>
// CHECK: %[[L:.*]] = ee.linear %[[NB]], %[[W]] : tensor<?x?x8xbf16>, tensor<16x8xbf16> -> tensor<?x?x16xf32>
// CHECK: %[[CE:.*]] = ee.cross_entropy %[[L]]
// CHECK: %[[DL:.*]] = ee.cross_entropy_grad %[[L]], %[[LABELS]]
// CHECK-NEXT: %[[DLB:.*]] = ee.convert %[[DL]] : tensor<?x?x16xf32> -> tensor<?x?x16xbf16>
// CHECK-NEXT: %[[DN:.*]] = ee.linear_grad_input %[[DLB]], %[[W]] : tensor<?x?x16xbf16>, tensor<16x8xbf16> -> tensor<?x?x8xf32>
// CHECK-NEXT: %[[DW:.*]] = ee.linear_grad_weight %[[DLB]], %[[NB]] : tensor<?x?x16xbf16>, tensor<?x?x8xbf16> -> tensor<16x8xf32>
// CHECK-NEXT: %{{.*}}, %[[DG:.*]] = ee.rms_norm_grad %[[X]], %[[G]], %[[DN]] eps 1.000000e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<8xf32>
// CHECK-NEXT: return %[[CE]], %[[DG]], %[[DW]] : f32, tensor<8xf32>, tensor<16x8xf32>
func.func @loss(%x: tensor<?x?x8xf32>, %labels: tensor<?x?xi32>) -> f32 {
  %g = ee.get_parameter @ln : tensor<8xbf16>
  %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16>
  %nb = ee.convert %n : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
  %w = ee.get_parameter @w : tensor<16x8xbf16>
  %l = ee.linear %nb, %w : tensor<?x?x8xbf16>, tensor<16x8xbf16> -> tensor<?x?x16xf32>
  %ce = ee.cross_entropy %l, %labels temperature 1.0 : tensor<?x?x16xf32>, tensor<?x?xi32>
  return %ce : f32
}
