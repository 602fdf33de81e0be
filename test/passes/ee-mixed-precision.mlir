// RUN: ee-opt %s -ee-mixed-precision -split-input-file -verify-diagnostics | FileCheck %s

// Weights become bf16 and every linear product multiplies bf16 factors; a norm
// whose only users are products rounds its own result, so no ee.convert.
ee.parameter @ln : tensor<64xf32>
ee.parameter @wq : tensor<64x64xf32>
ee.parameter @wk : tensor<32x64xf32>
ee.parameter @wv : tensor<32x64xf32>
// CHECK: ee.parameter @ln : tensor<64xbf16>
// CHECK: ee.parameter @wq : tensor<64x64xbf16>
// CHECK: ee.parameter @wk : tensor<32x64xbf16>
// CHECK: ee.parameter @wv : tensor<32x64xbf16>
// CHECK-LABEL: func.func @norm_feeds_projections
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x64xf32>)
// CHECK-NEXT: %[[G:.*]] = ee.get_parameter @ln : tensor<64xbf16>
// CHECK-NEXT: %[[N:.*]] = ee.rms_norm %[[X]], %[[G]] eps 1.000000e-05 : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
// CHECK-NEXT: %[[WQ:.*]] = ee.get_parameter @wq : tensor<64x64xbf16>
// CHECK-NEXT: %[[Q:.*]] = ee.linear %[[N]], %[[WQ]] : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
// CHECK-NEXT: %[[WK:.*]] = ee.get_parameter @wk : tensor<32x64xbf16>
// CHECK-NEXT: %[[K:.*]] = ee.linear %[[N]], %[[WK]] : tensor<?x?x64xbf16>, tensor<32x64xbf16> -> tensor<?x?x32xf32>
// CHECK-NEXT: %[[WV:.*]] = ee.get_parameter @wv : tensor<32x64xbf16>
// CHECK-NEXT: %[[V:.*]] = ee.linear %[[N]], %[[WV]] : tensor<?x?x64xbf16>, tensor<32x64xbf16> -> tensor<?x?x32xf32>
// CHECK-NEXT: return %[[Q]], %[[K]], %[[V]] : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
func.func @norm_feeds_projections(%x: tensor<?x?x64xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) {
  %g = ee.get_parameter @ln : tensor<64xf32>
  %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
  %wq = ee.get_parameter @wq : tensor<64x64xf32>
  %q = ee.linear %n, %wq : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %wk = ee.get_parameter @wk : tensor<32x64xf32>
  %k = ee.linear %n, %wk : tensor<?x?x64xf32>, tensor<32x64xf32> -> tensor<?x?x32xf32>
  %wv = ee.get_parameter @wv : tensor<32x64xf32>
  %v = ee.linear %n, %wv : tensor<?x?x64xf32>, tensor<32x64xf32> -> tensor<?x?x32xf32>
  return %q, %k, %v : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
}

// -----

// A norm also read by an ee.add keeps its f32 result (with the bf16 weight);
// one ee.convert right after it serves both products, the add reads the f32.
ee.parameter @ln : tensor<64xf32>
ee.parameter @wq : tensor<64x64xf32>
// CHECK-LABEL: func.func @norm_feeds_add
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x64xf32>)
// CHECK-NEXT: %[[G:.*]] = ee.get_parameter @ln : tensor<64xbf16>
// CHECK-NEXT: %[[N:.*]] = ee.rms_norm %[[X]], %[[G]] eps 1.000000e-05 : tensor<?x?x64xf32>, tensor<64xbf16>{{$}}
// CHECK-NEXT: %[[NB:.*]] = ee.convert %[[N]] : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
// CHECK-NEXT: %[[W:.*]] = ee.get_parameter @wq : tensor<64x64xbf16>
// CHECK-NEXT: %[[A:.*]] = ee.linear %[[NB]], %[[W]] : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
// CHECK-NEXT: %[[R:.*]] = ee.add %[[N]], %[[X]] : tensor<?x?x64xf32>
// CHECK-NEXT: %[[B:.*]] = ee.linear %[[NB]], %[[W]] : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
// CHECK-NEXT: %[[S:.*]] = ee.add %[[A]], %[[B]] : tensor<?x?x64xf32>
// CHECK-NEXT: return %[[S]], %[[R]]
func.func @norm_feeds_add(%x: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  %g = ee.get_parameter @ln : tensor<64xf32>
  %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
  %w = ee.get_parameter @wq : tensor<64x64xf32>
  %a = ee.linear %n, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %r = ee.add %n, %x : tensor<?x?x64xf32>
  %b = ee.linear %n, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %s = ee.add %a, %b : tensor<?x?x64xf32>
  return %s, %r : tensor<?x?x64xf32>, tensor<?x?x64xf32>
}

// -----

// Attention has no bf16 form: its output is converted after it; a block
// argument is converted at the start of the block.
ee.parameter @wo : tensor<64x64xf32>
// CHECK-LABEL: func.func @attention_output
// CHECK-SAME: (%[[H:[^:]*]]: tensor<?x?x64xf32>, %[[Q:[^:]*]]: tensor<?x?x64xf32>, %[[K:[^:]*]]: tensor<?x?x32xf32>, %[[V:[^:]*]]: tensor<?x?x32xf32>)
// CHECK-NEXT: %[[HB:.*]] = ee.convert %[[H]] : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
// CHECK-NEXT: %[[A:.*]] = ee.attention %[[Q]], %[[K]], %[[V]] heads 2 kv_heads 1 : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
// CHECK-NEXT: %[[AB:.*]] = ee.convert %[[A]] : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
// CHECK-NEXT: %[[W:.*]] = ee.get_parameter @wo : tensor<64x64xbf16>
// CHECK-NEXT: %[[O:.*]] = ee.linear %[[AB]], %[[W]] : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
// CHECK-NEXT: %[[O2:.*]] = ee.linear %[[HB]], %[[W]] : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
// CHECK-NEXT: return %[[O]], %[[O2]]
func.func @attention_output(%h: tensor<?x?x64xf32>, %q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>,
                            %v: tensor<?x?x32xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  %a = ee.attention %q, %k, %v heads 2 kv_heads 1
      : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  %w = ee.get_parameter @wo : tensor<64x64xf32>
  %o = ee.linear %a, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %o2 = ee.linear %h, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %o, %o2 : tensor<?x?x64xf32>, tensor<?x?x64xf32>
}

// -----

// SwiGLU read only by the down projection rounds its own result.
ee.parameter @wd : tensor<64x176xf32>
// CHECK-LABEL: func.func @down_projection
// CHECK-SAME: (%[[G:[^:]*]]: tensor<?x?x176xf32>, %[[U:[^:]*]]: tensor<?x?x176xf32>)
// CHECK-NEXT: %[[S:.*]] = ee.swiglu %[[G]], %[[U]] : tensor<?x?x176xf32> -> tensor<?x?x176xbf16>
// CHECK-NEXT: %[[W:.*]] = ee.get_parameter @wd : tensor<64x176xbf16>
// CHECK-NEXT: %[[D:.*]] = ee.linear %[[S]], %[[W]] : tensor<?x?x176xbf16>, tensor<64x176xbf16> -> tensor<?x?x64xf32>
// CHECK-NEXT: return %[[D]]
func.func @down_projection(%g: tensor<?x?x176xf32>, %u: tensor<?x?x176xf32>) -> tensor<?x?x64xf32> {
  %s = ee.swiglu %g, %u : tensor<?x?x176xf32>
  %w = ee.get_parameter @wd : tensor<64x176xf32>
  %d = ee.linear %s, %w : tensor<?x?x176xf32>, tensor<64x176xf32> -> tensor<?x?x64xf32>
  return %d : tensor<?x?x64xf32>
}

// -----

// A tied table: the lookup reads the bf16 table and yields f32; the lookup's
// output (also read by the norm) is converted for the embedding-only logits,
// the norm read only by logits rounds its own result.
ee.parameter @emb : tensor<128x64xf32>
ee.parameter @norm : tensor<64xf32>
// CHECK: ee.parameter @emb : tensor<128x64xbf16>
// CHECK: ee.parameter @norm : tensor<64xbf16>
// CHECK-LABEL: func.func @tied_logits
// CHECK-SAME: (%[[IDS:.*]]: tensor<?x?xi32>)
// CHECK: %[[E:.*]] = ee.get_parameter @emb : tensor<128x64xbf16>
// CHECK-NEXT: %[[X:.*]] = ee.embedding_lookup %[[E]], %[[IDS]] : tensor<128x64xbf16>, tensor<?x?xi32> -> tensor<?x?x64xf32>
// CHECK-NEXT: %[[XB:.*]] = ee.convert %[[X]] : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
// CHECK-NEXT: %[[G:.*]] = ee.get_parameter @norm : tensor<64xbf16>
// CHECK-NEXT: %[[N:.*]] = ee.rms_norm %[[X]], %[[G]] eps 1.000000e-05 : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
// CHECK-NEXT: %[[L:.*]] = ee.logits %[[N]], %[[E]] : tensor<?x?x64xbf16>, tensor<128x64xbf16> -> tensor<?x?x128xf32>
// CHECK-NEXT: %[[L0:.*]] = ee.logits %[[XB]], %[[E]] : tensor<?x?x64xbf16>, tensor<128x64xbf16> -> tensor<?x?x128xf32>
// CHECK-NEXT: return %[[L]], %[[L0]]
func.func @tied_logits(%ids: tensor<?x?xi32>) -> (tensor<?x?x128xf32>, tensor<?x?x128xf32>) {
  %e = ee.get_parameter @emb : tensor<128x64xf32>
  %x = ee.embedding_lookup %e, %ids : tensor<128x64xf32>, tensor<?x?xi32> -> tensor<?x?x64xf32>
  %g = ee.get_parameter @norm : tensor<64xf32>
  %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
  %l = ee.logits %n, %e : tensor<?x?x64xf32>, tensor<128x64xf32> -> tensor<?x?x128xf32>
  %l0 = ee.logits %x, %e : tensor<?x?x64xf32>, tensor<128x64xf32> -> tensor<?x?x128xf32>
  return %l, %l0 : tensor<?x?x128xf32>, tensor<?x?x128xf32>
}

// -----

// A weight read by an op without a bf16 form.
ee.parameter @norm : tensor<64xf32>
func.func @weight_in_add() -> tensor<64xf32> {
  %w = ee.get_parameter @norm : tensor<64xf32>
  // expected-error @+1 {{'ee.add' op reads the weight '@norm' but has no bf16 form (ee-mixed-precision)}}
  %y = ee.add %w, %w : tensor<64xf32>
  return %y : tensor<64xf32>
}

// -----

// The norm's read of the weight is allowed; the inner product's is not.
ee.parameter @norm : tensor<64xf32>
func.func @weight_in_inner_product(%x: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, f32) {
  %w = ee.get_parameter @norm : tensor<64xf32>
  %n = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
  // expected-error @+1 {{'ee.inner_product' op reads the weight '@norm' but has no bf16 form (ee-mixed-precision)}}
  %y = ee.inner_product %w, %w : tensor<64xf32>
  return %n, %y : tensor<?x?x64xf32>, f32
}

// -----

// A product whose weight is not a parameter cannot be stored in bf16.
func.func @weight_argument(%x: tensor<?x?x64xf32>, %w: tensor<64x64xf32>) -> tensor<?x?x64xf32> {
  // expected-error @+1 {{'ee.linear' op multiplies a weight that is not a parameter, which ee-mixed-precision cannot store in bf16}}
  %y = ee.linear %x, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
