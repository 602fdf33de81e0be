// Megatron-style splits over tensor-parallel ranks, and the backward pass
// ee-autodiff derives from the split functions.
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --tp 2 --emit primitives | ee-opt -inline -ee-tensor-parallel=size=2 | FileCheck %s
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --tp 2 --emit primitives | ee-opt -inline -ee-tensor-parallel=size=2 -ee-autodiff | FileCheck %s --check-prefix=GRAD
// Generation steps: KV caches of the rank's heads, exit confidences over vocabulary shards.
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit primitives | ee-opt -ee-kv-cache="function=" -inline -ee-tensor-parallel=size=2 | FileCheck %s --check-prefix=GENERATION
// RUN: ee-opt %s -split-input-file -verify-diagnostics -ee-tensor-parallel=size=2

// Column-parallel weights lose half their rows, row-parallel ones half their
// columns, vocabulary tables half their rows; norms stay whole.
// CHECK: ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {
// CHECK-SAME: model.embed_tokens.weight = 0 : i64
// CHECK-SAME: model.layers.0.mlp.down_proj.weight = 1 : i64, model.layers.0.mlp.gate_proj.weight = 0 : i64
// CHECK-SAME: model.layers.0.self_attn.k_proj.weight = 0 : i64, model.layers.0.self_attn.o_proj.weight = 1 : i64
// CHECK-NOT: norm.weight = {{[01]}}
// CHECK: ee.parameter @model.embed_tokens.weight : tensor<128x128xf32>
// CHECK: ee.parameter @model.layers.0.input_layernorm.weight : tensor<128xf32>
// CHECK: ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<64x128xf32>
// CHECK: ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<32x128xf32>
// CHECK: ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<128x64xf32>
// CHECK: ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<128x176xf32>

// CHECK-LABEL: func.func @forward
// The forward function (evaluation) returns every head's logits gathered whole.
// CHECK-SAME: -> (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>)
// CHECK: ee.tp_all_gather {{.*}} : tensor<?x?x128xf32> -> tensor<?x?x256xf32>

// CHECK-LABEL: func.func @loss
// A vocab-parallel lookup completed by an all-reduce.
// CHECK: %[[LOOKUP:.*]] = ee.embedding_lookup %{{.*}}, %arg0 vocab_parallel
// CHECK: %[[X:.*]] = ee.tp_all_reduce %[[LOOKUP]]
// One copy enters the region of q, k and v: 2 of 4 query heads, 1 of 2 KV heads per rank.
// CHECK: %[[NORM:.*]] = ee.rms_norm %[[X]]
// CHECK: %[[COPY:.*]] = ee.tp_copy %[[NORM]]
// CHECK: ee.linear %[[COPY]], %{{.*}} -> tensor<?x?x64xf32>
// CHECK: ee.linear %[[COPY]], %{{.*}} -> tensor<?x?x32xf32>
// CHECK: ee.linear %[[COPY]], %{{.*}} -> tensor<?x?x32xf32>
// CHECK: ee.rotary %{{.*}} heads 2
// CHECK: ee.rotary %{{.*}} heads 1
// CHECK: %[[ATTN:.*]] = ee.attention %{{.*}} heads 2 kv_heads 1
// The row-parallel o projection's partial sums are added over the group.
// CHECK: %[[O:.*]] = ee.linear %[[ATTN]], %{{.*}} : tensor<?x?x64xf32>, tensor<128x64xf32> -> tensor<?x?x128xf32>
// CHECK: %[[OSUM:.*]] = ee.tp_all_reduce %[[O]]
// CHECK: ee.add %[[X]], %[[OSUM]]
// CHECK: ee.swiglu %{{.*}} : tensor<?x?x176xf32>
// CHECK: ee.tp_all_reduce
// Every head: a copy into vocab-parallel logits, a vocab-parallel cross-entropy.
// CHECK: ee.get_parameter @exits.0.norm.weight
// CHECK: %[[Z:.*]] = ee.tp_copy
// CHECK: %[[LOGITS:.*]] = ee.logits %[[Z]], %{{.*}} -> tensor<?x?x128xf32>
// CHECK: ee.cross_entropy %{{.*}}, %arg2 temperature 1.000000e+00 vocab_parallel

// The gradient of a copy is all-reduced; the vocab-parallel ops' gradients stay vocab-parallel.
// GRAD-LABEL: func.func @loss_grad
// GRAD: ee.cross_entropy_grad {{.*}} vocab_parallel
// GRAD: %[[DZ:.*]] = ee.linear_grad_input
// GRAD: ee.tp_all_reduce %[[DZ]]
// GRAD: ee.embedding_grad %arg0, %{{.*}} vocab_parallel

// A segment's caches hold the rank's one KV head of 32 features.
// GENERATION-LABEL: func.func @gen_segment_1(%arg0: tensor<?x?x128xf32>, %arg1: tensor<?x?xi32>, %arg2: tensor<?x?xi32>, %arg3: tensor<?x256x32xf32>, %arg4: tensor<?x256x32xf32>, %arg5: tensor<?x256x32xf32>, %arg6: tensor<?x256x32xf32>)
// GENERATION: ee.attention {{.*}} cache(%arg3, %arg4) {{.*}} heads 2 kv_heads 1 : {{.*}} -> (tensor<?x?x64xf32>, tensor<?x256x32xf32>, tensor<?x256x32xf32>)
// An exit's confidence is taken over the shards; its logits are gathered
// whole, once, for the token choice and the return.
// GENERATION-LABEL: func.func @gen_exit_0
// GENERATION-SAME: -> (tensor<?x?x256xf32>, tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>)
// GENERATION: %[[L:.*]] = ee.logits {{.*}} -> tensor<?x?x128xf32>
// GENERATION: %[[W:.*]] = ee.tp_all_gather %[[L]] : tensor<?x?x128xf32> -> tensor<?x?x256xf32>
// GENERATION: %[[C:.*]] = ee.exit_confidence %[[L]] vocab_parallel
// GENERATION: %decision, %token, %logprob, %next_state = ee.exit_decision %[[W]], %[[C]]
// GENERATION-NOT: ee.tp_all_gather
// GENERATION: return %[[W]], %[[C]], %decision

// expected-error @+1 {{ee-tensor-parallel needs the module's 'ee.config'}}
module {
}

// -----

// expected-error @+1 {{ee-tensor-parallel: 2 tensor-parallel ranks do not divide num_key_value_heads = 1}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
}

// -----

// expected-error @+1 {{ee-tensor-parallel: the module is already split}}
module attributes {ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {}>} {
}
