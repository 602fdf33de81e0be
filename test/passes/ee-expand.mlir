// RUN: ee-opt %s -ee-expand -split-input-file | FileCheck %s --implicit-check-not=ee.decoder_layer --implicit-check-not=ee.exit --implicit-check-not=ee.final_head --implicit-check-not="ee.embedding "

// Model-level ops become primitives; the weights are read by checkpoint name.

ee.parameter @emb : tensor<32x8xf32>

// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[IDS:.*]]: tensor<?x?xi32>)
func.func @embedding(%ids: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // CHECK: %[[T:.*]] = ee.get_parameter @emb : tensor<32x8xf32>
  // CHECK: %[[X:.*]] = ee.embedding_lookup %[[T]], %[[IDS]] : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
  // CHECK: return %[[X]]
  %x = ee.embedding %ids table(@emb) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  return %x : tensor<?x?x8xf32>
}

// -----

ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>

// One decoder layer: pre-norm attention with GQA and rotary, then a SwiGLU MLP.
// CHECK-LABEL: func.func @decoder_layer
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x8xf32>, %[[POS:.*]]: tensor<?x?xi32>)
func.func @decoder_layer(%x: tensor<?x?x8xf32>, %pos: tensor<?x?xi32>)
    -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  // CHECK: %[[LN1:.*]] = ee.get_parameter @model.layers.0.input_layernorm.weight
  // CHECK: %[[N1:.*]] = ee.rms_norm %[[X]], %[[LN1]] eps 1.000000e-05
  // CHECK: %[[WQ:.*]] = ee.get_parameter @model.layers.0.self_attn.q_proj.weight
  // CHECK: %[[Q:.*]] = ee.linear %[[N1]], %[[WQ]] : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  // CHECK: %[[WK:.*]] = ee.get_parameter @model.layers.0.self_attn.k_proj.weight
  // CHECK: %[[K:.*]] = ee.linear %[[N1]], %[[WK]] : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x4xf32>
  // CHECK: %[[WV:.*]] = ee.get_parameter @model.layers.0.self_attn.v_proj.weight
  // CHECK: %[[V:.*]] = ee.linear %[[N1]], %[[WV]]
  // CHECK: %[[QR:.*]] = ee.rotary %[[Q]], %[[POS]] heads 2 theta 1.000000e+04
  // CHECK: %[[KR:.*]] = ee.rotary %[[K]], %[[POS]] heads 1 theta 1.000000e+04
  // CHECK: %[[A:.*]] = ee.attention %[[QR]], %[[KR]], %[[V]] heads 2 kv_heads 1
  // CHECK: %[[WO:.*]] = ee.get_parameter @model.layers.0.self_attn.o_proj.weight
  // CHECK: %[[O:.*]] = ee.linear %[[A]], %[[WO]]
  // CHECK: %[[H:.*]] = ee.add %[[X]], %[[O]]
  // CHECK: %[[LN2:.*]] = ee.get_parameter @model.layers.0.post_attention_layernorm.weight
  // CHECK: %[[N2:.*]] = ee.rms_norm %[[H]], %[[LN2]]
  // CHECK: %[[WG:.*]] = ee.get_parameter @model.layers.0.mlp.gate_proj.weight
  // CHECK: %[[G:.*]] = ee.linear %[[N2]], %[[WG]] : tensor<?x?x8xf32>, tensor<16x8xf32> -> tensor<?x?x16xf32>
  // CHECK: %[[WU:.*]] = ee.get_parameter @model.layers.0.mlp.up_proj.weight
  // CHECK: %[[U:.*]] = ee.linear %[[N2]], %[[WU]]
  // CHECK: %[[S:.*]] = ee.swiglu %[[G]], %[[U]] : tensor<?x?x16xf32>
  // CHECK: %[[WD:.*]] = ee.get_parameter @model.layers.0.mlp.down_proj.weight
  // CHECK: %[[D:.*]] = ee.linear %[[S]], %[[WD]] : tensor<?x?x16xf32>, tensor<8x16xf32> -> tensor<?x?x8xf32>
  // CHECK: %[[Y:.*]] = ee.add %[[H]], %[[D]]
  // CHECK: return %[[Y]], %[[H]]
  %y, %h = ee.decoder_layer %x, %pos
      layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
      weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %y, %h : tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
ee.parameter @exits.0.norm.weight : tensor<8xf32>

// Embedding-only and normed exits over the tied input embedding.
// CHECK-LABEL: func.func @plain_exits
// CHECK-SAME: (%[[Z:.*]]: tensor<?x?x8xf32>)
func.func @plain_exits(%z: tensor<?x?x8xf32>) -> (tensor<?x?x32xf32>, tensor<?x?x32xf32>) {
  // CHECK: %[[E1:.*]] = ee.get_parameter @model.embed_tokens.weight
  // CHECK: %[[L1:.*]] = ee.logits %[[Z]], %[[E1]] : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x32xf32>
  %a = ee.exit %z exit 0 layer 1 branch none
      #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
      temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear>
      output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  // CHECK: %[[NW:.*]] = ee.get_parameter @exits.0.norm.weight
  // CHECK: %[[N:.*]] = ee.rms_norm %[[Z]], %[[NW]] eps 1.000000e-05
  // CHECK: %[[E2:.*]] = ee.get_parameter @model.embed_tokens.weight
  // CHECK: %[[L2:.*]] = ee.logits %[[N]], %[[E2]]
  // CHECK: return %[[L1]], %[[L2]]
  %b = ee.exit %z exit 0 layer 1 branch none norm
      #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
      temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear>
      output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return %a, %b : tensor<?x?x32xf32>, tensor<?x?x32xf32>
}

// -----

ee.parameter @model.layers.2.post_attention_layernorm.weight : tensor<8xf32>
ee.parameter @exits.1.mlp.gate_proj.weight : tensor<12x8xf32>
ee.parameter @exits.1.mlp.up_proj.weight : tensor<12x8xf32>
ee.parameter @exits.1.mlp.down_proj.weight : tensor<8x12xf32>
ee.parameter @exits.1.lm_head.weight : tensor<32x8xf32>

// An MLP exit branches from its layer's mid-layer residual, sharing the
// layer's post-attention norm; untied output weights.
// CHECK-LABEL: func.func @mlp_exit
// CHECK-SAME: (%[[H:.*]]: tensor<?x?x8xf32>)
func.func @mlp_exit(%h: tensor<?x?x8xf32>) -> tensor<?x?x32xf32> {
  // CHECK: %[[PN:.*]] = ee.get_parameter @model.layers.2.post_attention_layernorm.weight
  // CHECK: %[[N:.*]] = ee.rms_norm %[[H]], %[[PN]]
  // CHECK: ee.get_parameter @exits.1.mlp.gate_proj.weight
  // CHECK: ee.get_parameter @exits.1.mlp.up_proj.weight
  // CHECK: ee.swiglu
  // CHECK: ee.get_parameter @exits.1.mlp.down_proj.weight
  // CHECK: %[[D:.*]] = ee.linear
  // CHECK: %[[Z:.*]] = ee.add %[[H]], %[[D]]
  // CHECK: %[[W:.*]] = ee.get_parameter @exits.1.lm_head.weight
  // CHECK: %[[L:.*]] = ee.logits %[[Z]], %[[W]]
  // CHECK: return %[[L]]
  %l = ee.exit %h exit 1 layer 3 branch mlp
      #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
      temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear>
      output(@exits.1.lm_head.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return %l : tensor<?x?x32xf32>
}

// -----

ee.parameter @exits.0.block.input_layernorm.weight : tensor<8xf32>
ee.parameter @exits.0.block.self_attn.q_proj.weight : tensor<8x8xf32>
ee.parameter @exits.0.block.self_attn.k_proj.weight : tensor<8x8xf32>
ee.parameter @exits.0.block.self_attn.v_proj.weight : tensor<8x8xf32>
ee.parameter @exits.0.block.self_attn.o_proj.weight : tensor<8x8xf32>
ee.parameter @exits.0.block.post_attention_layernorm.weight : tensor<8xf32>
ee.parameter @exits.0.block.mlp.gate_proj.weight : tensor<16x8xf32>
ee.parameter @exits.0.block.mlp.up_proj.weight : tensor<16x8xf32>
ee.parameter @exits.0.block.mlp.down_proj.weight : tensor<8x16xf32>
ee.parameter @exits.0.norm.weight : tensor<8xf32>
ee.parameter @exits.0.lm_head.weight : tensor<32x8xf32>

// A block exit runs a whole transformer block of its own, then its norm.
// CHECK-LABEL: func.func @block_exit
// CHECK-SAME: (%[[Z:.*]]: tensor<?x?x8xf32>, %[[POS:.*]]: tensor<?x?xi32>)
func.func @block_exit(%z: tensor<?x?x8xf32>, %pos: tensor<?x?xi32>) -> tensor<?x?x32xf32> {
  // CHECK: ee.get_parameter @exits.0.block.input_layernorm.weight
  // CHECK: ee.rotary %{{.*}}, %[[POS]] heads 2 theta 5.000000e+05
  // CHECK: ee.rotary %{{.*}}, %[[POS]] heads 2 theta 5.000000e+05
  // CHECK: ee.attention {{.*}} heads 2 kv_heads 2
  // CHECK: ee.get_parameter @exits.0.block.mlp.down_proj.weight
  // CHECK: ee.linear
  // CHECK: %[[B:.*]] = ee.add
  // CHECK: %[[NW:.*]] = ee.get_parameter @exits.0.norm.weight
  // CHECK: %[[N:.*]] = ee.rms_norm %[[B]], %[[NW]] eps 9.9999999999999995E-7
  // CHECK: %[[W:.*]] = ee.get_parameter @exits.0.lm_head.weight
  // CHECK: ee.logits %[[N]], %[[W]]
  %l = ee.exit %z, %pos exit 0 layer 1 branch block norm
      #ee.layer<num_heads = 2, num_kv_heads = 2, rms_norm_eps = 1.0e-06, rope_theta = 500000.0>
      temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear>
      output(@exits.0.lm_head.weight) : tensor<?x?x8xf32>, tensor<?x?xi32> -> tensor<?x?x32xf32>
  return %l : tensor<?x?x32xf32>
}

// -----

ee.parameter @model.norm.weight : tensor<8xf32>
ee.parameter @lm_head.weight : tensor<32x8xf32>

// CHECK-LABEL: func.func @final_head
// CHECK-SAME: (%[[Y:.*]]: tensor<?x?x8xf32>)
func.func @final_head(%y: tensor<?x?x8xf32>) -> tensor<?x?x32xf32> {
  // CHECK: %[[NW:.*]] = ee.get_parameter @model.norm.weight
  // CHECK: %[[N:.*]] = ee.rms_norm %[[Y]], %[[NW]] eps 1.000000e-05
  // CHECK: %[[W:.*]] = ee.get_parameter @lm_head.weight
  // CHECK: %[[L:.*]] = ee.logits %[[N]], %[[W]]
  // CHECK: return %[[L]]
  %l = ee.final_head %y norm(@model.norm.weight) output(@lm_head.weight) eps 1.0e-05
      : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return %l : tensor<?x?x32xf32>
}

// -----

// The exit term of the objective: w(t) * CE(logits / T).
// CHECK-LABEL: func.func @exit_loss
// CHECK-SAME: (%[[L:.*]]: tensor<?x?x32xf32>, %[[T:.*]]: tensor<?x?xi32>, %[[I:.*]]: i64)
func.func @exit_loss(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
  // CHECK: %[[W:.*]] = ee.loss_weight %[[I]] schedule <init = 0.0, target = 0.5, warmup_iters = 10, style = cosine>
  // CHECK: %[[CE:.*]] = ee.cross_entropy %[[L]], %[[T]] temperature 2.000000e+00
  // CHECK: %[[R:.*]] = arith.mulf %[[W]], %[[CE]] : f32
  // CHECK: return %[[R]]
  %x = ee.exit_loss %l, %t, %i
      weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 10, style = cosine>
      temperature 2.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}
