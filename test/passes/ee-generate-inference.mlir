// The step functions of early-exit generation, from imported configs:
// RUN: ee-compile %S/../e2e/Inputs/mlp-exits-untied.json --emit ee | ee-opt -ee-generate-inference | FileCheck %s --check-prefix=MLP
// RUN: ee-compile %S/../e2e/Inputs/pre-exit.json --emit ee | ee-opt -ee-generate-inference | FileCheck %s --check-prefix=PRE
// RUN: ee-compile %S/../e2e/Inputs/block-exits-gqa.json --emit ee | ee-opt -ee-generate-inference="method=pipeline stages=2" | FileCheck %s --check-prefix=BLOCK
// RUN: ee-compile %S/../e2e/Inputs/block-exits-gqa.json --emit ee | ee-opt -ee-generate-inference="method=pipeline split=1,3" | FileCheck %s --check-prefix=SPLIT
// Errors, on small modules:
// RUN: ee-opt %s -ee-generate-inference -split-input-file -verify-diagnostics
// RUN: ee-compile %S/../e2e/Inputs/block-exits-gqa.json --emit ee | not ee-opt -ee-generate-inference="method=beam" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: ee-compile %S/../e2e/Inputs/block-exits-gqa.json --emit ee | not ee-opt -ee-generate-inference="split=2,1" 2>&1 | FileCheck %s --check-prefix=BADSPLIT
// RUN: ee-compile %S/../e2e/Inputs/block-exits-gqa.json --emit ee | not ee-opt -ee-generate-inference="method=pipeline stages=5" 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: ee-compile %S/../e2e/Inputs/block-exits-gqa.json --emit ee | not ee-opt -ee-generate-inference="method=pipeline" 2>&1 | FileCheck %s --check-prefix=ONESTAGE

// MLP exits at layers 1 and 3 read the mid-layer residual: each segment
// returns its output (where recomputation resumes) and the residual.
// MLP: ee.inference = #ee.inference<method = "recompute", layers = 4, segments = [#ee.segment<function = "gen_segment_0", begin_layer = 0, end_layer = 1, stage = 0, caches = ["model.layers.0"], exits = [0]>, #ee.segment<function = "gen_segment_1", begin_layer = 1, end_layer = 3, stage = 0, caches = ["model.layers.1", "model.layers.2"], exits = [1]>, #ee.segment<function = "gen_segment_2", begin_layer = 3, end_layer = 4, stage = 0, caches = ["model.layers.3"], exits = []>]
// MLP-SAME: exits = [#ee.exit_plan<exit = 0, layer = 1, boundary = 1, function = "gen_exit_0", caches = []>, #ee.exit_plan<exit = 1, layer = 3, boundary = 3, function = "gen_exit_1", caches = []>], final = "gen_final"
// MLP-LABEL: func.func @gen_segment_0(
// MLP-SAME: %[[IDS:.*]]: tensor<?x?xi32>, %[[POS:.*]]: tensor<?x?xi32>, %{{.*}}: tensor<?x?xi32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) attributes {ee.kv_cache = 2 : i64}
// MLP: %[[X:.*]] = ee.embedding %[[IDS]]
// MLP: %[[Y:.*]], %[[H:.*]] = ee.decoder_layer %[[X]], %[[POS]] {{.*}} weights("model.layers.0")
// MLP: return %[[Y]], %[[H]]
// MLP-LABEL: func.func @gen_segment_1(
// MLP-SAME: %[[X1:[^:]*]]: tensor<?x?x64xf32>
// MLP: ee.decoder_layer %[[X1]], {{.*}} weights("model.layers.1")
// MLP: ee.decoder_layer {{.*}} weights("model.layers.2")
// MLP-LABEL: func.func @gen_segment_2(
// MLP-SAME: -> tensor<?x?x64xf32> attributes {ee.kv_cache = 2 : i64}
// A head decides in the step function: the choice (threshold, temperature,
// top_k, top_p) and random state of each token in; logits, confidence,
// decision, token, its log-probability and the next state out.
// MLP-LABEL: func.func @gen_exit_0(
// MLP-SAME: %[[Z:[^:]*]]: tensor<?x?x64xf32>, %{{.*}}: tensor<?x?xi32>, %{{.*}}: tensor<?x?xi32>, %[[CHOICE:[^:]*]]: tensor<?x?x4xf32>, %[[STATE:[^:]*]]: tensor<?x?xi64>) -> (tensor<?x?x256xf32>, tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>) {
// MLP: %[[L:.*]] = ee.exit %[[Z]] exit 0 layer 1 branch mlp
// MLP: %[[C:.*]] = ee.exit_confidence %[[L]]
// MLP: %decision, %token, %logprob, %next_state = ee.exit_decision %[[L]], %[[C]], %[[CHOICE]], %[[STATE]]
// MLP: return %[[L]], %[[C]], %decision, %token, %logprob, %next_state
// MLP-LABEL: func.func @gen_exit_1(
// MLP-LABEL: func.func @gen_final(
// MLP-SAME: tensor<?x?x4xf32>, %{{.*}}: tensor<?x?xi64>) -> (tensor<?x?x256xf32>, tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>) {
// MLP: %[[F:.*]] = ee.final_head
// MLP: %[[FC:.*]] = ee.exit_confidence %[[F]]
// MLP: ee.exit_decision %[[F]], %[[FC]]

// A pre-exit at layer 1 reads the embedding: an embedding-only segment first.
// PRE: segments = [#ee.segment<function = "gen_segment_0", begin_layer = 0, end_layer = 0, stage = 0, caches = [], exits = [0]>, #ee.segment<function = "gen_segment_1", begin_layer = 0, end_layer = 3, stage = 0, caches = ["model.layers.0", "model.layers.1", "model.layers.2"], exits = [1]>, #ee.segment<function = "gen_segment_2", begin_layer = 3, end_layer = 4, stage = 0, caches = ["model.layers.3"], exits = []>]
// PRE-LABEL: func.func @gen_segment_0(
// PRE-SAME: -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
// PRE-NEXT: %[[X:.*]] = ee.embedding
// PRE-NEXT: return %[[X]], %[[X]]

// Two stages: the cost model cuts where the block exit reads; the block exit
// has a KV cache of its own, filled by gen_exit_0_kv for tokens passing it.
// BLOCK: ee.inference = #ee.inference<method = "pipeline"
// BLOCK-SAME: stage = 0, {{.*}} #ee.segment<function = "gen_segment_1", begin_layer = 2, {{.*}} stage = 1,
// BLOCK-SAME: exits = [#ee.exit_plan<exit = 0, layer = 2, boundary = 2, function = "gen_exit_0", caches = ["exits.0.block"], kv_function = "gen_exit_0_kv">]
// BLOCK-SAME: stages = [#ee.inference_stage<begin_layer = 0, end_layer = 2, cost = {{.*}}>, #ee.inference_stage<begin_layer = 2, end_layer = 4, cost = {{.*}}>]
// BLOCK-LABEL: func.func @gen_exit_0(
// BLOCK-SAME: attributes {ee.kv_cache = 2 : i64}
// BLOCK: ee.exit {{.*}} branch block
// BLOCK-LABEL: func.func @gen_exit_0_kv(
// BLOCK-SAME: attributes {ee.kv_cache = 2 : i64}
// BLOCK: ee.decoder_layer {{.*}} weights("exits.0.block")

// An explicit split cuts segments at both the stage boundary and the exit.
// SPLIT: segments = [#ee.segment<function = "gen_segment_0", begin_layer = 0, end_layer = 1, stage = 0, {{.*}} exits = []>, #ee.segment<function = "gen_segment_1", begin_layer = 1, end_layer = 2, stage = 1, {{.*}} exits = [0]>, #ee.segment<function = "gen_segment_2", begin_layer = 2, end_layer = 4, stage = 1, {{.*}} exits = []>]
// SPLIT-SAME: stages = [#ee.inference_stage<begin_layer = 0, end_layer = 1, cost = {{.*}}>, #ee.inference_stage<begin_layer = 1, end_layer = 4, cost = {{.*}}>]

// BADSPLIT: error: ee-generate-inference: 'split' covers 3 layers, the model has 4
// STAGES: error: ee-generate-inference: 5 pipeline stages for a model of 4 layers (each stage needs at least one layer)
// ONESTAGE: error: ee-generate-inference: the pipeline method needs at least 2 stages
// METHOD: error: ee-generate-inference: unknown method 'beam' (expected recompute or pipeline)

// expected-error @+1 {{ee-generate-inference needs an ee.config and a function 'forward'}}
module {
}

// -----

module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // expected-error @+1 {{ee-generate-inference needs a model-level forward function (ee.embedding ... ee.final_head)}}
  func.func @forward(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
    return %x : tensor<?x?x8xf32>
  }
}
