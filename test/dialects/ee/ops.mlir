// RUN: ee-opt %s | ee-opt | FileCheck %s
// RUN: ee-opt %s --mlir-print-op-generic | ee-opt | FileCheck %s

// Every ee op, attribute and syntax variant survives printing and re-parsing.

// CHECK: module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = false, early_exit = <exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.25], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 100, exit_layer_weight_warmup_style = cosine, exit_layer_temperature = [1.5], use_exit_norm = true, use_exit_mlp = true, use_exit_block = false, untie_exit_output_weights = true>>}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16,
    num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1,
    max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0,
    tie_word_embeddings = false,
    early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false,
      exit_layer_weight = [0.25], exit_layer_weight_init = [0.0],
      exit_layer_weight_warmup_iters = 100, exit_layer_weight_warmup_style = cosine,
      exit_layer_temperature = [1.5], use_exit_norm = true, use_exit_mlp = true,
      use_exit_block = false, untie_exit_output_weights = true>>} {
  // CHECK: ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  // CHECK: ee.parameter @bf16.embed_tokens.weight : tensor<32x8xbf16>
  ee.parameter @bf16.embed_tokens.weight : tensor<32x8xbf16>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
  ee.parameter @lm_head.weight : tensor<32x8xf32>
  ee.parameter @exits.0.norm.weight : tensor<8xf32>
  ee.parameter @exits.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @exits.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @exits.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @exits.0.lm_head.weight : tensor<32x8xf32>
  // CHECK: ee.parameter @exits.0.lm_head.weight : tensor<32x8xf32>

  // CHECK-LABEL: func.func @model_level
  func.func @model_level(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>,
                         %iter: i64) -> (tensor<?x?x32xf32>, tensor<?x?x32xf32>, f32) {
    // CHECK: %[[X:.*]] = ee.embedding %{{.*}} table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
    %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
    // CHECK: %[[Y:.*]], %[[H:.*]] = ee.decoder_layer %[[X]], %{{.*}} layer <num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
    %y, %h = ee.decoder_layer %x, %pos layer
        #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
        weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
    // CHECK: %[[E:.*]] = ee.exit %[[H]] exit 0 layer 1 branch mlp norm <num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.500000e+00 weight <init = 0.0, target = 0.25, warmup_iters = 100, style = cosine> output(@exits.0.lm_head.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
    %e = ee.exit %h exit 0 layer 1 branch mlp norm
        #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
        temperature 1.5
        weight #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 100, style = cosine>
        output(@exits.0.lm_head.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
    // CHECK: %[[F:.*]] = ee.final_head %[[Y]] norm(@model.norm.weight) output(@lm_head.weight) eps 1.000000e-05
    %f = ee.final_head %y norm(@model.norm.weight) output(@lm_head.weight) eps 1.0e-05
        : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
    // CHECK: ee.exit_loss %[[E]], %{{.*}}, %{{.*}} weight <init = 0.0, target = 0.25, warmup_iters = 100, style = cosine> temperature 1.500000e+00 : tensor<?x?x32xf32>, tensor<?x?xi32>
    %l = ee.exit_loss %e, %labels, %iter
        weight #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 100, style = cosine>
        temperature 1.5 : tensor<?x?x32xf32>, tensor<?x?xi32>
    return %e, %f, %l : tensor<?x?x32xf32>, tensor<?x?x32xf32>, f32
  }

  // CHECK-LABEL: func.func @primitives
  func.func @primitives(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %table: tensor<32x8xf32>,
                        %norm: tensor<8xf32>, %wq: tensor<8x8xf32>, %wk: tensor<4x8xf32>,
                        %kc: tensor<?x64x4xf32>, %vc: tensor<?x64x4xf32>, %iter: i64,
                        %choice4: tensor<?x?x4xf32>, %state: tensor<?x?xi64>)
      -> (tensor<?x?xf32>, f32, f32) {
    // CHECK: ee.get_parameter @model.norm.weight : tensor<8xf32>
    %p = ee.get_parameter @model.norm.weight : tensor<8xf32>
    // CHECK: ee.embedding_lookup %{{.*}}, %{{.*}} : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %x = ee.embedding_lookup %table, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    // CHECK: ee.embedding_lookup %{{.*}}, %{{.*}} vocab_parallel : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %xp = ee.embedding_lookup %table, %ids vocab_parallel : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    // CHECK: ee.rms_norm %{{.*}}, %{{.*}} eps 1.000000e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %n = ee.rms_norm %x, %p eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    // CHECK: ee.linear %{{.*}}, %{{.*}} : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %q = ee.linear %n, %wq : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %k = ee.linear %n, %wk : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x4xf32>
    // CHECK: ee.rotary %{{.*}}, %{{.*}} heads 2 theta 1.000000e+04 : tensor<?x?x8xf32>, tensor<?x?xi32>
    %qr = ee.rotary %q, %pos heads 2 theta 10000.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
    %kr = ee.rotary %k, %pos heads 1 theta 10000.0 : tensor<?x?x4xf32>, tensor<?x?xi32>
    // CHECK: ee.attention %{{.*}}, %{{.*}}, %{{.*}} heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
    %a = ee.attention %qr, %kr, %k heads 2 kv_heads 1
        : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
    // CHECK: ee.attention %{{.*}}, %{{.*}}, %{{.*}} cache(%{{.*}}, %{{.*}}) positions(%{{.*}}) heads 2 kv_heads 1
    // CHECK-SAME: -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
    %c, %kc2, %vc2 = ee.attention %qr, %kr, %k cache(%kc, %vc) positions(%pos) heads 2 kv_heads 1
        : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>,
           tensor<?x64x4xf32>, tensor<?x?xi32>)
        -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
    // CHECK: ee.attention %{{.*}}, %{{.*}}, %{{.*}} cache(%{{.*}}, %{{.*}}) positions(%{{.*}}) rows(%{{.*}}) heads 2 kv_heads 1
    %c3, %kc3, %vc3 = ee.attention %qr, %kr, %k cache(%kc2, %vc2) positions(%pos) rows(%pos) heads 2 kv_heads 1
        : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>,
           tensor<?x64x4xf32>, tensor<?x?xi32>, tensor<?x?xi32>)
        -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
    // CHECK: ee.add %{{.*}}, %{{.*}} : tensor<?x?x8xf32>
    %r = ee.add %a, %c3 : tensor<?x?x8xf32>
    // CHECK: ee.swiglu %{{.*}}, %{{.*}} : tensor<?x?x8xf32>
    %s = ee.swiglu %r, %x : tensor<?x?x8xf32>
    // CHECK: ee.logits %{{.*}}, %{{.*}} : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x32xf32>
    %logits = ee.logits %s, %table : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x32xf32>
    // CHECK: ee.cross_entropy %{{.*}}, %{{.*}} temperature 2.000000e+00 : tensor<?x?x32xf32>, tensor<?x?xi32>
    %ce = ee.cross_entropy %logits, %ids temperature 2.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
    // CHECK: ee.exit_confidence %{{.*}} : tensor<?x?x32xf32> -> tensor<?x?xf32>
    %conf = ee.exit_confidence %logits : tensor<?x?x32xf32> -> tensor<?x?xf32>
    // CHECK: %decision, %token, %logprob, %next_state = ee.exit_decision %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x32xf32>, tensor<?x?xf32>, tensor<?x?x4xf32>, tensor<?x?xi64> -> tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
    %d:4 = ee.exit_decision %logits, %conf, %choice4, %state
        : tensor<?x?x32xf32>, tensor<?x?xf32>, tensor<?x?x4xf32>, tensor<?x?xi64>
        -> tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
    // CHECK: ee.tp_copy %{{.*}} : tensor<?x?x8xf32>
    %entered = ee.tp_copy %r : tensor<?x?x8xf32>
    // CHECK: ee.tp_all_gather %{{.*}} : tensor<?x?x8xf32> -> tensor<?x?x16xf32>
    %gathered = ee.tp_all_gather %r : tensor<?x?x8xf32> -> tensor<?x?x16xf32>
    // CHECK: ee.exit_confidence %{{.*}} vocab_parallel : tensor<?x?x32xf32> -> tensor<?x?xf32>
    %confp = ee.exit_confidence %logits vocab_parallel : tensor<?x?x32xf32> -> tensor<?x?xf32>
    // CHECK: ee.tp_all_reduce %{{.*}} : tensor<?x?x8xf32>
    %summed = ee.tp_all_reduce %entered : tensor<?x?x8xf32>
    // CHECK: ee.cross_entropy %{{.*}}, %{{.*}} temperature 1.000000e+00 vocab_parallel : tensor<?x?x32xf32>, tensor<?x?xi32>
    %cep = ee.cross_entropy %logits, %ids temperature 1.0 vocab_parallel : tensor<?x?x32xf32>, tensor<?x?xi32>
    // CHECK: ee.inner_product %{{.*}}, %{{.*}} : tensor<?x?x8xf32>
    %dot = ee.inner_product %r, %s : tensor<?x?x8xf32>
    // CHECK: ee.scale %{{.*}}, %{{.*}} : tensor<?x?x8xf32>
    %scaled = ee.scale %r, %dot : tensor<?x?x8xf32>
    // CHECK: ee.loss_weight %{{.*}} schedule <init = 0.0, target = 0.5, warmup_iters = 10, style = linear>
    %w = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 10, style = linear>
    return %conf, %ce, %w : tensor<?x?xf32>, f32, f32
  }

  // CHECK-LABEL: func.func @mixed_precision
  func.func @mixed_precision(%ids: tensor<?x?xi32>, %table: tensor<32x8xbf16>,
                             %norm: tensor<8xbf16>, %wq: tensor<8x8xbf16>, %x: tensor<?x?x8xf32>)
      -> (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
    // CHECK: ee.get_parameter @bf16.embed_tokens.weight : tensor<32x8xbf16>
    %t = ee.get_parameter @bf16.embed_tokens.weight : tensor<32x8xbf16>
    // CHECK: ee.embedding_lookup %{{.*}}, %{{.*}} : tensor<32x8xbf16>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %h = ee.embedding_lookup %t, %ids : tensor<32x8xbf16>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    // CHECK: ee.rms_norm %{{.*}}, %{{.*}} eps 1.000000e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<?x?x8xbf16>
    %n = ee.rms_norm %h, %norm eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<?x?x8xbf16>
    // CHECK: ee.linear %{{.*}}, %{{.*}} : tensor<?x?x8xbf16>, tensor<8x8xbf16> -> tensor<?x?x8xf32>
    %q = ee.linear %n, %wq : tensor<?x?x8xbf16>, tensor<8x8xbf16> -> tensor<?x?x8xf32>
    // CHECK: ee.swiglu %{{.*}}, %{{.*}} : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    %s = ee.swiglu %q, %x : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    // CHECK: ee.logits %{{.*}}, %{{.*}} : tensor<?x?x8xbf16>, tensor<32x8xbf16> -> tensor<?x?x32xf32>
    %l = ee.logits %s, %t : tensor<?x?x8xbf16>, tensor<32x8xbf16> -> tensor<?x?x32xf32>
    // CHECK: ee.convert %{{.*}} : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    %qb = ee.convert %q : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    // CHECK: ee.convert %{{.*}} : tensor<8x8xbf16> -> tensor<8x8xf32>
    %wf = ee.convert %wq : tensor<8x8xbf16> -> tensor<8x8xf32>
    // CHECK: ee.tp_copy %{{.*}} : tensor<?x?x8xbf16>
    %c = ee.tp_copy %n : tensor<?x?x8xbf16>
    // CHECK: ee.linear_grad_input %{{.*}}, %{{.*}} : tensor<?x?x8xbf16>, tensor<8x8xbf16> -> tensor<?x?x8xf32>
    %dx = ee.linear_grad_input %qb, %wq : tensor<?x?x8xbf16>, tensor<8x8xbf16> -> tensor<?x?x8xf32>
    // CHECK: ee.linear_grad_weight %{{.*}}, %{{.*}} : tensor<?x?x8xbf16>, tensor<?x?x8xbf16> -> tensor<8x8xf32>
    %dw = ee.linear_grad_weight %qb, %c : tensor<?x?x8xbf16>, tensor<?x?x8xbf16> -> tensor<8x8xf32>
    // CHECK: ee.rms_norm_grad %{{.*}}, %{{.*}}, %{{.*}} eps 1.000000e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<8xf32>
    %dh, %dn = ee.rms_norm_grad %h, %norm, %dx eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<8xf32>
    return %dh, %dw, %dn, %q, %x : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  }

  // CHECK-LABEL: func.func @communication
  func.func @communication(%y: tensor<?x?x8xf32>, %g: tensor<32x8xf32>,
                           %b: index, %s: index)
      -> (tensor<?x?x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>) {
    // CHECK: %[[SENT:.*]] = ee.send %{{.*}} to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request
    %sent = ee.send %y to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request
    // CHECK: %[[IN:.*]] = ee.recv from -1 tag 3 shape(%{{.*}}, %{{.*}}) : !ee.request<tensor<?x?x8xf32>>
    %in = ee.recv from -1 tag 3 shape(%b, %s) : !ee.request<tensor<?x?x8xf32>>
    // CHECK: ee.all_reduce_start %{{.*}} over dp : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    %sum = ee.all_reduce_start %g over dp : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    // CHECK: ee.all_reduce_start %{{.*}} over tied(@model.embed_tokens.weight) : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    %tied = ee.all_reduce_start %g over tied(@model.embed_tokens.weight)
        : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    // CHECK: ee.reduce_scatter_start %{{.*}} over dp : tensor<32x8xf32> -> !ee.request<tensor<?xf32>>
    %blocks = ee.reduce_scatter_start %g over dp : tensor<32x8xf32> -> !ee.request<tensor<?xf32>>
    // CHECK: ee.wait %[[IN]] : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
    %x = ee.wait %in : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
    %summed = ee.wait %sum : !ee.request<tensor<32x8xf32>> -> tensor<32x8xf32>
    %shared = ee.wait %tied : !ee.request<tensor<32x8xf32>> -> tensor<32x8xf32>
    %block = ee.wait %blocks : !ee.request<tensor<?xf32>> -> tensor<?xf32>
    // CHECK: ee.all_gather_start %{{.*}} over tp : tensor<?xf32> -> !ee.request<tensor<32x8xf32>>
    %gather = ee.all_gather_start %block over tp : tensor<?xf32> -> !ee.request<tensor<32x8xf32>>
    %whole = ee.wait %gather : !ee.request<tensor<32x8xf32>> -> tensor<32x8xf32>
    // CHECK: ee.wait %[[SENT]] : !ee.request{{$}}
    ee.wait %sent : !ee.request
    return %x, %summed, %shared, %whole : tensor<?x?x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>
  }

  // The memory plan of ee-plan-memory.
  // CHECK-LABEL: func.func @planned
  // CHECK-SAME: attributes {ee.arena = #ee.arena<per_token_bytes = 64, fixed_bytes = 64>}
  // CHECK: ee.add %{{.*}}, %{{.*}} {ee.buffers = [#ee.buffer<per_token, 0>]}
  // CHECK: ee.inner_product %{{.*}}, %{{.*}} {ee.buffers = [#ee.buffer<fixed, 0>]}
  func.func @planned(%x: tensor<?x?x8xf32>) -> f32 attributes {ee.arena = #ee.arena<per_token_bytes = 64, fixed_bytes = 64>} {
    %y = ee.add %x, %x {ee.buffers = [#ee.buffer<per_token, 0>]} : tensor<?x?x8xf32>
    %q = ee.inner_product %y, %y {ee.buffers = [#ee.buffer<fixed, 0>]} : tensor<?x?x8xf32>
    return %q : f32
  }

  // CHECK-LABEL: func.func @optimizer
  func.func @optimizer(%g: tensor<8xf32>, %block: tensor<?xf32>, %lr: f32, %step: i64, %clip: f32, %b1: f32, %b2: f32, %eps: f32, %wd: f32) {
    // CHECK: ee.adamw @model.norm.weight, %{{.*}} lr %{{.*}} step %{{.*}} scale %{{.*}} beta1 %{{.*}} beta2 %{{.*}} eps %{{.*}} weight_decay %{{.*}} no_decay : tensor<8xf32>
    ee.adamw @model.norm.weight, %g lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd no_decay : tensor<8xf32>
    // CHECK: ee.adamw @exits.0.norm.weight, {{.*}} weight_decay %{{.*}} : tensor<8xf32>
    ee.adamw @exits.0.norm.weight, %g lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd : tensor<8xf32>
    // CHECK: ee.adamw @model.norm.weight, {{.*}} no_decay dp_shard : tensor<?xf32>
    ee.adamw @model.norm.weight, %block lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd no_decay dp_shard : tensor<?xf32>
    // CHECK: ee.all_gather_parameter_start @model.norm.weight over dp : !ee.request
    %gathered = ee.all_gather_parameter_start @model.norm.weight over dp : !ee.request
    ee.wait %gathered : !ee.request
    // CHECK: ee.all_reduce_start %{{.*}} over pp : f32 -> !ee.request<f32>
    %r = ee.all_reduce_start %clip over pp : f32 -> !ee.request<f32>
    // CHECK: ee.wait %{{.*}} : !ee.request<f32> -> f32
    %s = ee.wait %r : !ee.request<f32> -> f32
    // CHECK: ee.inner_product %{{.*}}, %{{.*}} : tensor<8xf32>
    %q = ee.inner_product %g, %g : tensor<8xf32>
    return
  }

  // Exits of other models (a block exit, pre-exit placement) in a nested
  // module: without an ee.config of its own, the outer one does not apply.
  // CHECK-LABEL: module @other_exits
  module @other_exits {
    ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
    ee.parameter @exits.3.block.input_layernorm.weight : tensor<8xf32>
    ee.parameter @exits.3.block.self_attn.q_proj.weight : tensor<8x8xf32>
    ee.parameter @exits.3.block.self_attn.k_proj.weight : tensor<8x8xf32>
    ee.parameter @exits.3.block.self_attn.v_proj.weight : tensor<8x8xf32>
    ee.parameter @exits.3.block.self_attn.o_proj.weight : tensor<8x8xf32>
    ee.parameter @exits.3.block.post_attention_layernorm.weight : tensor<8xf32>
    ee.parameter @exits.3.block.mlp.gate_proj.weight : tensor<24x8xf32>
    ee.parameter @exits.3.block.mlp.up_proj.weight : tensor<24x8xf32>
    ee.parameter @exits.3.block.mlp.down_proj.weight : tensor<8x24xf32>

    // CHECK-LABEL: func.func @block_exit
    func.func @block_exit(%z: tensor<2x?x8xf32>, %pos: tensor<2x?xi32>) -> tensor<2x?x32xf32>
     {
      // CHECK: ee.exit %{{.*}}, %{{.*}} exit 3 layer 7 branch block <{{.*}}rope_theta = 500000.0> {{.*}} output(@model.embed_tokens.weight) : tensor<2x?x8xf32>, tensor<2x?xi32> -> tensor<2x?x32xf32>
      %l = ee.exit %z, %pos exit 3 layer 7 branch block
          #ee.layer<num_heads = 2, num_kv_heads = 2, rms_norm_eps = 1.0e-05, rope_theta = 500000.0>
          temperature 2.0
          weight #ee.loss_weight<init = 0.5, target = 0.1, warmup_iters = 10, style = linear>
          output(@model.embed_tokens.weight) : tensor<2x?x8xf32>, tensor<2x?xi32> -> tensor<2x?x32xf32>
      return %l : tensor<2x?x32xf32>
    }

    // CHECK-LABEL: func.func @pre_exit
    func.func @pre_exit(%x: tensor<?x?x8xf32>) -> tensor<?x?x32xf32> {
      // CHECK: ee.exit %{{.*}} exit 0 layer 1 pre_exit branch none <{{.*}}> temperature {{.*}} output(@model.embed_tokens.weight)
      %pre = ee.exit %x exit 0 layer 1 pre_exit branch none
          #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
          temperature 1.0
          weight #ee.loss_weight<init = 1.0, target = 1.0, warmup_iters = 0, style = linear>
          output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
      return %pre : tensor<?x?x32xf32>
    }
  }

  // The plans of the parallel and generation passes.
  // CHECK: module attributes {ee.data_parallel = #ee.data_parallel<bucket_size = 1000, distributed_optimizer = true>,
  // CHECK-SAME: ee.inference = #ee.inference<method = "pipeline", layers = 2, segments = [#ee.segment<function = "gen_segment_0", begin_layer = 0, end_layer = 2, stage = 0, caches = ["model.layers.0", "model.layers.1"], exits = [0]>], exits = [#ee.exit_plan<exit = 0, layer = 2, boundary = 2, function = "gen_exit_0", caches = ["exits.0.block"], kv_function = "gen_exit_0_kv">], final = "gen_final", stages = [#ee.inference_stage<begin_layer = 0, end_layer = 2, cost = 1.500000e+00 : f64>]>,
  // CHECK-SAME: ee.pipeline = #ee.pipeline<seq_len = 8, micro_batch = 2, microbatches = 2, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [0], embedding = true, final_head = false, flops_per_token = 1500000.0, parameter_bytes = 4096.0, activation_bytes = 0.25, loss_function = "stage0_loss", forward_function = "stage0_loss_fwd", backward_function = "stage0_loss_bwd">,
  // CHECK-SAME: #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 2.0, activation_bytes = 3.0, loss_function = "stage1_loss", heads = [0, 1], train_step = "stage1_train_step", grad_step = "stage1_grad_step", update_step = "stage1_update_step">],
  // CHECK-SAME: tied = [#ee.tied_parameter<parameter = "w", stages = [0, 1]>],
  // CHECK-SAME: schedule = <order = {{\[\[}}"F0", "F1", "B0", "B1"], ["F0", "B0", "f2", "b2", "F1", "B1"]], bubble_fraction = 0.125, plain_bubble_fraction = 0.25, filled_microbatches = 1, makespan_flops = 1000000000.0>>
  // CHECK-SAME: ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {w = 1 : i64}>}
  module attributes {ee.data_parallel = #ee.data_parallel<bucket_size = 1000, distributed_optimizer = true>,
                     ee.pipeline = #ee.pipeline<seq_len = 8, micro_batch = 2, microbatches = 2,
                         stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [0], embedding = true, final_head = false, flops_per_token = 1.5e+06, parameter_bytes = 4096.0, activation_bytes = 0.25, loss_function = "stage0_loss", forward_function = "stage0_loss_fwd", backward_function = "stage0_loss_bwd">,
                                   #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 2.0, activation_bytes = 3.0, loss_function = "stage1_loss", heads = [0, 1], train_step = "stage1_train_step", grad_step = "stage1_grad_step", update_step = "stage1_update_step">],
                         tied = [#ee.tied_parameter<parameter = "w", stages = [0, 1]>],
                         schedule = #ee.pipeline_schedule<order = [["F0", "F1", "B0", "B1"], ["F0", "B0", "f2", "b2", "F1", "B1"]], bubble_fraction = 0.125, plain_bubble_fraction = 0.25, filled_microbatches = 1, makespan_flops = 1.0e+09>>,
                     ee.inference = #ee.inference<method = "pipeline", layers = 2, segments = [#ee.segment<function = "gen_segment_0", begin_layer = 0, end_layer = 2, stage = 0, caches = ["model.layers.0", "model.layers.1"], exits = [0]>], exits = [#ee.exit_plan<exit = 0, layer = 2, boundary = 2, function = "gen_exit_0", caches = ["exits.0.block"], kv_function = "gen_exit_0_kv">], final = "gen_final", stages = [#ee.inference_stage<begin_layer = 0, end_layer = 2, cost = 1.5 : f64>]>,
                     ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {w = 1 : i64}>} {
  }
}
