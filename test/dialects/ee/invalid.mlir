// RUN: ee-opt %s -split-input-file -verify-diagnostics

// Every verifier rule of the ee dialect, one case each.

// -----

// config: vocab_size must be positive
// expected-error @+1 {{'vocab_size' must be positive, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 0, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: hidden_size must be positive
// expected-error @+1 {{'hidden_size' must be positive, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 0, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: intermediate_size must be positive
// expected-error @+1 {{'intermediate_size' must be positive, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 0, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: num_hidden_layers must be positive
// expected-error @+1 {{'num_hidden_layers' must be positive, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 0, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: max_position_embeddings must be positive
// expected-error @+1 {{'max_position_embeddings' must be positive, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 0, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: heads must be positive
// expected-error @+1 {{'num_attention_heads' must be positive, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 0, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: KV heads must be positive
// expected-error @+1 {{'num_key_value_heads' must be positive, got -1}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = -1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: heads must divide the hidden size
// expected-error @+1 {{'num_attention_heads' (3) must divide 'hidden_size' (8)}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 3, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: KV heads must divide the heads
// expected-error @+1 {{'num_key_value_heads' (3) must divide 'num_attention_heads' (2)}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 3, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: the head dimension must be even
// expected-error @+1 {{head dimension 'hidden_size' / 'num_attention_heads' = 1 must be even}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 8, num_key_value_heads = 8, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: epsilon must be positive
// expected-error @+1 {{'rms_norm_eps' must be a positive finite number}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 0.0, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// config: rotary base must be positive
// expected-error @+1 {{'rope_theta' must be a positive finite number}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = -1.0, tie_word_embeddings = true>} {}

// -----

// config: exit layer beyond the model
// expected-error @+1 {{'early_exit.exit_layer_nums[0]' = 3 is out of range: 'num_hidden_layers' is 2}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [3], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// config: booleans are true or false
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'tie_word_embeddings'}}
// expected-error @+1 {{expected 'true' or 'false'}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = 1>} {}

// -----

// early_exit: layers start at 1
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_nums[0]' = 0 is out of range: layers are numbered from 1}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [0], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: no duplicate layers
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_nums' lists layer 1 twice}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1, 1], pre_exit = false, exit_layer_weight = [0.5, 0.5], exit_layer_weight_init = [0.0, 0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0, 1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: layers strictly increasing
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_nums' must be strictly increasing: entry 1 (1) follows 2}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [2, 1], pre_exit = false, exit_layer_weight = [0.5, 0.5], exit_layer_weight_init = [0.0, 0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0, 1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: one weight per exit
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_weight' has 2 entries but 'early_exit.exit_layer_nums' has 1 exits}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5, 0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: one initial weight per exit
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_weight_init' has 0 entries but 'early_exit.exit_layer_nums' has 1 exits}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: one temperature per exit
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_temperature' has 2 entries}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0, 2.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: weights are non-negative
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_weight[0]' must be a non-negative finite number, got -0.5}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [-0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: initial weights are non-negative
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_weight_init[0]' must be a non-negative finite number}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [-1.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: temperatures are positive
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_temperature[0]' must be a positive finite number, got 0}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [0.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: warm-up iterations are non-negative
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{'early_exit.exit_layer_weight_warmup_iters' must be non-negative, got -5}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = -5, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: MLP and block exits exclude each other
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{early_exit: 'use_exit_mlp' and 'use_exit_block' exclude each other}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = true, use_exit_block = true, untie_exit_output_weights = false>>} {}

// -----

// early_exit: MLP exits are post-exit
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{early_exit: 'use_exit_mlp' needs post-exit placement}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = true, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = true, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// early_exit: unknown warm-up style
// expected-error @+3 {{failed to parse EE_EarlyExitAttr parameter 'exit_layer_weight_warmup_style'}}
// expected-error @+2 {{failed to parse EE_ConfigAttr parameter 'early_exit'}}
// expected-error @+1 {{expected ::mlir::ee::WarmupStyle to be one of: linear, cosine}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.0], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = exponential, exit_layer_temperature = [1.0], use_exit_norm = true, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// loss_weight: initial weight non-negative
func.func @f(%i: i64) -> f32 {
  // expected-error @+1 {{'init' must be a non-negative finite number}}
  %w = ee.loss_weight %i schedule #ee.loss_weight<init = -1.0, target = 0.5, warmup_iters = 0, style = linear>
  return %w : f32
}

// -----

// loss_weight: target weight non-negative
func.func @f(%i: i64) -> f32 {
  // expected-error @+1 {{'target' must be a non-negative finite number}}
  %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = -0.5, warmup_iters = 0, style = linear>
  return %w : f32
}

// -----

// loss_weight: warm-up non-negative
func.func @f(%i: i64) -> f32 {
  // expected-error @+1 {{'warmup_iters' must be non-negative, got -1}}
  %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = -1, style = linear>
  return %w : f32
}

// -----

// layer: heads positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'num_heads' must be positive, got 0}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 0, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// layer: KV heads positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'num_kv_heads' must be positive, got 0}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 0, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// layer: KV heads divide heads
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'num_kv_heads' (2) must divide 'num_heads' (3)}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 3, num_kv_heads = 2, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// layer: epsilon positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'rms_norm_eps' must be a positive finite number}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 0.0, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// layer: rotary base positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'rope_theta' must be a positive finite number}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 0.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// ee.config belongs on a module
// expected-error @+1 {{'ee.config' must be attached to a builtin.module}}
func.func @f() attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  return
}

// -----

// ee.config is an #ee.config
// expected-error @+1 {{'ee.config' must be an #ee.config}}
module attributes {ee.config = 3} {}

// -----

// ee.kv_cache names a function's cache-rows argument
// expected-error @+1 {{'ee.kv_cache' must be the index of the function's cache-rows argument}}
func.func @f(%x: tensor<?x?xi32>) attributes {ee.kv_cache = 1 : i64} {
  return
}

// -----

// ee.kv_cache belongs on a function
// expected-error @+1 {{'ee.kv_cache' must be attached to a function}}
module attributes {ee.kv_cache = 0 : i64} {}

// -----

// ee.inference is a module's dictionary
// expected-error @+1 {{'ee.inference' must be an #ee.inference attached to a builtin.module}}
module attributes {ee.inference = "recompute"} {}

// -----

// ee.pipeline: the typed plan
// expected-error @+1 {{'ee.pipeline' must be an #ee.pipeline attached to a builtin.module}}
module attributes {ee.pipeline = {stages = []}} {}

// -----

// #ee.pipeline_stage: at least one layer
// expected-error @+1 {{a pipeline stage runs at least one layer, not [1, 1)}}
module attributes {stage = #ee.pipeline_stage<begin_layer = 1, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>} {}

// -----

// #ee.pipeline_stage: exits in order
// expected-error @+1 {{a pipeline stage's exits are distinct non-negative indices in order}}
module attributes {stage = #ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [1, 0], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>} {}

// -----

// #ee.pipeline_stage: head slots
// expected-error @+1 {{a pipeline stage's heads are non-negative loss slots}}
module attributes {stage = #ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, heads = [-1]>} {}

// -----

// #ee.pipeline_stage: costs
// expected-error @+1 {{a pipeline stage's costs are non-negative}}
module attributes {stage = #ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = -1.0, parameter_bytes = 1.0, activation_bytes = 1.0>} {}

// -----

// #ee.pipeline_stage: a forward part has a backward part
// expected-error @+1 {{a pipeline stage with a forward function needs its backward function}}
module attributes {stage = #ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, forward_function = "f">} {}

// -----

// #ee.pipeline_stage: both steps
// expected-error @+1 {{a pipeline stage has both a train step and a grad step or neither}}
module attributes {stage = #ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, train_step = "t">} {}

// -----

// #ee.tied_parameter: two stages
// expected-error @+1 {{tied parameter 'w' is held by at least two distinct stages in order}}
module attributes {tied = #ee.tied_parameter<parameter = "w", stages = [1, 1]>} {}

// -----

// #ee.pipeline_schedule: passes
// expected-error @+1 {{stage 1's schedule must be a list of passes F<m>, B<m>, f<m> or b<m>}}
module attributes {schedule = #ee.pipeline_schedule<order = [["F0", "B0"], ["X0"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 1.0>} {}

// -----

// #ee.pipeline_schedule: bubble fraction
// expected-error @+1 {{a bubble fraction lies in [0, 1], not 1.5}}
module attributes {schedule = #ee.pipeline_schedule<order = [["F0", "B0"]], bubble_fraction = 1.5, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 1.0>} {}

// -----

// #ee.pipeline_schedule: counts
// expected-error @+1 {{a schedule's partial micro-batches and length are non-negative}}
module attributes {schedule = #ee.pipeline_schedule<order = [["F0", "B0"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = -1, makespan_flops = 1.0>} {}

// -----

// #ee.pipeline: sizes
// expected-error @+1 {{a pipeline plan's seq_len, micro_batch and microbatches are positive}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 0, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = []>} {}

// -----

// #ee.pipeline: a stage
// expected-error @+1 {{a pipeline plan has at least one stage}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [], tied = []>} {}

// -----

// #ee.pipeline: typed stages
// expected-error @+1 {{pipeline stage 0 is not an #ee.pipeline_stage}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [{begin_layer = 0}], tied = []>} {}

// -----

// #ee.pipeline: stages in order
// expected-error @+1 {{pipeline stage 1 begins at layer 2, not at the next one, 1}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>, #ee.pipeline_stage<begin_layer = 2, end_layer = 3, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = []>} {}

// -----

// #ee.pipeline: embedding first, head last
// expected-error @+1 {{the embedding is on the first pipeline stage and the final head on the last, not on stage 0}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>, #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = []>} {}

// -----

// #ee.pipeline: typed tied parameters
// expected-error @+1 {{a pipeline plan's tied parameters are #ee.tied_parameter}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>, #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = [{parameter = "w"}]>} {}

// -----

// #ee.pipeline: tied stages exist
// expected-error @+1 {{tied parameter 'w' names a stage beyond the 2 of the plan}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>, #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = [#ee.tied_parameter<parameter = "w", stages = [0, 2]>]>} {}

// -----

// #ee.pipeline: a schedule per stage
// expected-error @+1 {{the schedule orders 1 stages, not 2}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>, #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = [], schedule = #ee.pipeline_schedule<order = [["F0", "B0"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 1.0>>} {}

// -----

// ee.differentiate lists arguments of a function
// expected-error @+1 {{'ee.differentiate' must list argument indices of a function}}
func.func @f(%x: tensor<?x?x8xf32>) attributes {ee.differentiate = array<i64: 1>} {
  return
}

// -----

// ee.split_backward lists arguments of a function
// expected-error @+1 {{'ee.split_backward' must list argument indices of a function}}
func.func @f(%x: tensor<?x?x8xf32>) attributes {ee.split_backward = [0]} {
  return
}

// -----

// ee.gradients names parameters
// expected-error @+1 {{'ee.gradients' must be an array of parameter names on a function}}
func.func @f() attributes {ee.gradients = [1]} {
  return
}

// -----

// tp_all_gather: a whole number of blocks
func.func @f(%a: tensor<?x?x8xf32>) -> tensor<?x?x12xf32> {
  // expected-error @+1 {{gathers 12 features, not a multiple of the input's 8}}
  %g = ee.tp_all_gather %a : tensor<?x?x8xf32> -> tensor<?x?x12xf32>
  return %g : tensor<?x?x12xf32>
}

// -----

// tp_all_gather: one row per token
func.func @f(%a: tensor<3x?x8xf32>) -> tensor<2x?x16xf32> {
  // expected-error @+1 {{}}
  %g = ee.tp_all_gather %a : tensor<3x?x8xf32> -> tensor<2x?x16xf32>
  return %g : tensor<2x?x16xf32>
}

// -----

// tp_all_reduce: the sum has the input's type
func.func @f(%a: tensor<?x?x8xf32>) -> tensor<?x?x4xf32> {
  // expected-error @+1 {{all of {input, result} have same type}}
  %p = "ee.tp_all_reduce"(%a) : (tensor<?x?x8xf32>) -> tensor<?x?x4xf32>
  return %p : tensor<?x?x4xf32>
}

// -----

// inner_product: both operands have one type
func.func @f(%a: tensor<?x?x8xf32>, %b: tensor<?x?x4xf32>) -> f32 {
  // expected-error @+1 {{all of {lhs, rhs} have same type}}
  %p = "ee.inner_product"(%a, %b) : (tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> f32
  return %p : f32
}

// -----

// unknown ee attributes are rejected
// expected-error @+1 {{unknown ee dialect attribute 'ee.configuration'}}
module attributes {ee.configuration = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {}

// -----

// parameter: f32 only
// expected-error @+1 {{parameter '@w' must be an f32 or bf16 tensor, got 'tensor<4xi32>'}}
ee.parameter @w : tensor<4xi32>

// -----

// get_parameter: the symbol must be declared
func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'@missing' does not name an ee.parameter}}
  %w = ee.get_parameter @missing : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

// get_parameter: the type must be the declared one
ee.parameter @w : tensor<4xf32>
func.func @f() -> tensor<8xf32> {
  // expected-error @+1 {{result type 'tensor<8xf32>' differs from the type 'tensor<4xf32>' of '@w'}}
  %w = ee.get_parameter @w : tensor<8xf32>
  return %w : tensor<8xf32>
}

// -----

// embedding: token dimensions agree
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%ids: tensor<2x?xi32>) -> tensor<3x?x8xf32> {
  // expected-error @+1 {{batch size of the ids (2) differs from the result (3)}}
  %x = ee.embedding %ids table(@emb) : tensor<2x?xi32> -> tensor<3x?x8xf32>
  return %x : tensor<3x?x8xf32>
}

// -----

// embedding: the table must be declared
func.func @f(%ids: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{needs the parameter '@emb', which is not declared by an ee.parameter}}
  %x = ee.embedding %ids table(@emb) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  return %x : tensor<?x?x8xf32>
}

// -----

// embedding: the table width is the hidden size
ee.parameter @emb : tensor<32x16xf32>
func.func @f(%ids: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{parameter '@emb' has shape [32, 16] but [?, 8] is needed}}
  %x = ee.embedding %ids table(@emb) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  return %x : tensor<?x?x8xf32>
}

// -----

// decoder_layer: positions cover the same tokens
func.func @f(%x: tensor<?x4x8xf32>, %p: tensor<?x5xi32>) {
  // expected-error @+1 {{sequence size of the input (4) differs from the positions (5)}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x4x8xf32>, tensor<?x5xi32>
  return
}

// -----

// decoder_layer: heads divide the hidden size
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'num_heads' (3) must divide 'hidden size' (8)}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 3, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// decoder_layer: every weight must be declared
ee.parameter @l.input_layernorm.weight : tensor<8xf32>
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{needs the parameter '@l.self_attn.q_proj.weight'}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// decoder_layer: grouped-query key projections have num_kv_heads heads
ee.parameter @l.input_layernorm.weight : tensor<8xf32>
ee.parameter @l.self_attn.q_proj.weight : tensor<8x8xf32>
ee.parameter @l.self_attn.k_proj.weight : tensor<8x8xf32>
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{parameter '@l.self_attn.k_proj.weight' has shape [8, 8] but [4, 8] is needed}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// decoder_layer: the MLP projections agree on the intermediate size
ee.parameter @l.input_layernorm.weight : tensor<8xf32>
ee.parameter @l.self_attn.q_proj.weight : tensor<8x8xf32>
ee.parameter @l.self_attn.k_proj.weight : tensor<4x8xf32>
ee.parameter @l.self_attn.v_proj.weight : tensor<4x8xf32>
ee.parameter @l.self_attn.o_proj.weight : tensor<8x8xf32>
ee.parameter @l.post_attention_layernorm.weight : tensor<8xf32>
ee.parameter @l.mlp.gate_proj.weight : tensor<16x8xf32>
ee.parameter @l.mlp.up_proj.weight : tensor<12x8xf32>
ee.parameter @l.mlp.down_proj.weight : tensor<8x16xf32>
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{parameter '@l.mlp.up_proj.weight' has shape [12, 8] but [16, 8] is needed}}
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

// exit: an MLP exit is post-exit
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'use_exit_mlp' needs post-exit placement}}
  %l = ee.exit %x exit 0 layer 1 pre_exit branch mlp #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: temperature is positive
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'temperature' must be a positive finite number, got -1}}
  %l = ee.exit %x exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature -1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: logits cover the same tokens as the input
func.func @f(%x: tensor<2x?x8xf32>) {
  // expected-error @+1 {{batch size of the input (2) differs from the logits (1)}}
  %l = ee.exit %x exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<2x?x8xf32> -> tensor<1x?x32xf32>
  return
}

// -----

// exit: a block exit needs positions
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{a block exit needs the token positions}}
  %l = ee.exit %x exit 0 layer 1 branch block #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: positions cover the same tokens
func.func @f(%x: tensor<?x3x8xf32>, %p: tensor<?x4xi32>) {
  // expected-error @+1 {{sequence size of the input (3) differs from the positions (4)}}
  %l = ee.exit %x, %p exit 0 layer 1 branch block #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x3x8xf32>, tensor<?x4xi32> -> tensor<?x3x32xf32>
  return
}

// -----

// exit: an MLP exit shares its layer's post-attention norm
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{needs the parameter '@model.layers.2.post_attention_layernorm.weight'}}
  %l = ee.exit %x exit 0 layer 3 branch mlp #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: a block exit has its own block weights
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{needs the parameter '@exits.1.block.input_layernorm.weight'}}
  %l = ee.exit %x, %p exit 1 layer 1 branch block #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32>, tensor<?x?xi32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: a normed exit has its own norm weight
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{needs the parameter '@exits.0.norm.weight'}}
  %l = ee.exit %x exit 0 layer 1 branch none norm #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: the output matrix is [vocab, hidden]
ee.parameter @emb : tensor<64x8xf32>
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{parameter '@emb' has shape [64, 8] but [32, 8] is needed}}
  %l = ee.exit %x exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit: unknown branch
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{unknown exit branch 'attention', expected none, mlp or block}}
  %l = ee.exit %x exit 0 layer 1 branch attention #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// final_head: epsilon is positive
func.func @f(%y: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'eps' must be a positive finite number, got 0}}
  %l = ee.final_head %y norm(@n) output(@emb) eps 0.0 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// final_head: logits cover the same tokens
func.func @f(%y: tensor<?x5x8xf32>) {
  // expected-error @+1 {{sequence size of the input (5) differs from the logits (6)}}
  %l = ee.final_head %y norm(@n) output(@emb) eps 1.0e-05 : tensor<?x5x8xf32> -> tensor<?x6x32xf32>
  return
}

// -----

// final_head: the norm weight has the hidden size
ee.parameter @n : tensor<4xf32>
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%y: tensor<?x?x8xf32>) {
  // expected-error @+1 {{parameter '@n' has shape [4] but [8] is needed}}
  %l = ee.final_head %y norm(@n) output(@emb) eps 1.0e-05 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// final_head: the output matrix must be declared
ee.parameter @n : tensor<8xf32>
func.func @f(%y: tensor<?x?x8xf32>) {
  // expected-error @+1 {{needs the parameter '@lm_head.weight'}}
  %l = ee.final_head %y norm(@n) output(@lm_head.weight) eps 1.0e-05 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}

// -----

// exit_loss: temperature is positive
func.func @f(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
  // expected-error @+1 {{'temperature' must be a positive finite number, got 0}}
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> temperature 0.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}

// -----

// exit_loss: labels cover the same tokens
func.func @f(%l: tensor<4x?x32xf32>, %t: tensor<2x?xi32>, %i: i64) -> f32 {
  // expected-error @+1 {{batch size of the logits (4) differs from the labels (2)}}
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> temperature 1.0 : tensor<4x?x32xf32>, tensor<2x?xi32>
  return %x : f32
}

// -----

// exit_loss: the temperature is the exit's
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%h: tensor<?x?x8xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
  %l = ee.exit %h exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  // expected-error @+1 {{temperature 2.0 differs from that of exit 0 (1.0)}}
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> temperature 2.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}

// -----

// exit_loss: the weight schedule is the exit's
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%h: tensor<?x?x8xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
  %l = ee.exit %h exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  // expected-error @+1 {{loss weight #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 0, style = linear> differs from that of exit 0}}
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 0, style = linear> temperature 1.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}

// -----

// embedding_lookup: token dimensions agree
func.func @f(%t: tensor<32x8xf32>, %ids: tensor<?x3xi32>) -> tensor<?x4x8xf32> {
  // expected-error @+1 {{sequence size of the ids (3) differs from the result (4)}}
  %x = ee.embedding_lookup %t, %ids : tensor<32x8xf32>, tensor<?x3xi32> -> tensor<?x4x8xf32>
  return %x : tensor<?x4x8xf32>
}

// -----

// embedding_lookup: rows have the result's width
func.func @f(%t: tensor<32x8xf32>, %ids: tensor<?x?xi32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{result features (16) must equal embedding columns (8)}}
  %x = ee.embedding_lookup %t, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x16xf32>
  return %x : tensor<?x?x16xf32>
}

// -----

// rms_norm: epsilon is positive
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<8xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{'eps' must be a positive finite number, got -1}}
  %y = ee.rms_norm %x, %w eps -1.0 : tensor<?x?x8xf32>, tensor<8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// rms_norm: one weight per feature
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<4xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{weight size (4) must equal input features (8)}}
  %y = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x8xf32>, tensor<4xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// linear: token dimensions agree
func.func @f(%x: tensor<2x?x8xf32>, %w: tensor<4x8xf32>) -> tensor<3x?x4xf32> {
  // expected-error @+1 {{batch size of the input (2) differs from the result (3)}}
  %y = ee.linear %x, %w : tensor<2x?x8xf32>, tensor<4x8xf32> -> tensor<3x?x4xf32>
  return %y : tensor<3x?x4xf32>
}

// -----

// linear: weight columns are the input features
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<4x6xf32>) -> tensor<?x?x4xf32> {
  // expected-error @+1 {{weight columns (6) must equal input features (8)}}
  %y = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<4x6xf32> -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}

// -----

// linear: weight rows are the result features
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x?x5xf32> {
  // expected-error @+1 {{result features (5) must equal weight rows (4)}}
  %y = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x5xf32>
  return %y : tensor<?x?x5xf32>
}

// -----

// logits: the output matrix is [vocab, hidden]
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<32x8xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{result features (16) must equal weight rows (32)}}
  %y = ee.logits %x, %w : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// rotary: theta is positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{'theta' must be a positive finite number, got 0}}
  %y = ee.rotary %x, %p heads 2 theta 0.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %y : tensor<?x?x8xf32>
}

// -----

// rotary: positions cover the same tokens
func.func @f(%x: tensor<1x?x8xf32>, %p: tensor<2x?xi32>) -> tensor<1x?x8xf32> {
  // expected-error @+1 {{batch size of the input (1) differs from the positions (2)}}
  %y = ee.rotary %x, %p heads 2 theta 10000.0 : tensor<1x?x8xf32>, tensor<2x?xi32>
  return %y : tensor<1x?x8xf32>
}

// -----

// rotary: heads divide the features
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{'num_heads' (3) must divide the input features (8)}}
  %y = ee.rotary %x, %p heads 3 theta 10000.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %y : tensor<?x?x8xf32>
}

// -----

// rotary: the head dimension is even
func.func @f(%x: tensor<?x?x6xf32>, %p: tensor<?x?xi32>) -> tensor<?x?x6xf32> {
  // expected-error @+1 {{head dimension 3 must be even for rotary embeddings}}
  %y = ee.rotary %x, %p heads 2 theta 10000.0 : tensor<?x?x6xf32>, tensor<?x?xi32>
  return %y : tensor<?x?x6xf32>
}

// -----

// attention: heads divide the query features
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{'num_heads' (3) must divide the query features (8)}}
  %o = ee.attention %q, %k, %k heads 3 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}

// -----

// attention: KV heads divide the heads
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{'num_kv_heads' (3) must divide 'num_heads' (2)}}
  %o = ee.attention %q, %k, %k heads 2 kv_heads 3 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}

// -----

// attention: keys hold num_kv_heads heads
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x8xf32>, %v: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{key features (8) must equal 'num_kv_heads' x head dimension (4)}}
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}

// -----

// attention: values hold num_kv_heads heads
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %v: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{value features (8) must equal 'num_kv_heads' x head dimension (4)}}
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}

// -----

// attention: keys cover the same tokens as queries
func.func @f(%q: tensor<?x3x8xf32>, %k: tensor<?x4x4xf32>, %v: tensor<?x3x4xf32>) -> tensor<?x3x8xf32> {
  // expected-error @+1 {{sequence size of the query (3) differs from the key (4)}}
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<?x3x8xf32>, tensor<?x4x4xf32>, tensor<?x3x4xf32>) -> tensor<?x3x8xf32>
  return %o : tensor<?x3x8xf32>
}

// -----

// attention: values cover the same tokens as queries
func.func @f(%q: tensor<2x?x8xf32>, %k: tensor<2x?x4xf32>, %v: tensor<1x?x4xf32>) -> tensor<2x?x8xf32> {
  // expected-error @+1 {{batch size of the query (2) differs from the value (1)}}
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<2x?x8xf32>, tensor<2x?x4xf32>, tensor<1x?x4xf32>) -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}

// -----

// attention: the output has the query's type
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) -> tensor<1x?x8xf32> {
  // expected-error @+1 {{result type 'tensor<1x?x8xf32>' must equal the query type 'tensor<?x?x8xf32>'}}
  %o = ee.attention %q, %k, %k heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<1x?x8xf32>
  return %o : tensor<1x?x8xf32>
}

// -----

// attention: a cache has keys and values
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{a KV cache needs both the key and the value cache}}
  %o, %c1 = "ee.attention"(%q, %k, %k, %c, %p) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1, 0>}> : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x?xi32>) -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>)
  return
}

// -----

// attention: cache rows index a cache
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %r: tensor<?x?xi32>) {
  // expected-error @+1 {{'rows' are only used with a KV cache}}
  %o = "ee.attention"(%q, %k, %k, %r) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1>}> : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  return
}

// -----

// attention: a cache needs the new tokens' positions
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>) {
  // expected-error @+1 {{a KV cache needs the positions of the new tokens}}
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%c, %c) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>) -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
  return
}

// -----

// attention: positions only come with a cache
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{'positions' are only used with a KV cache}}
  %o = ee.attention %q, %k, %k positions(%p) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  return
}

// -----

// attention: no updated caches without a cache
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) {
  // expected-error @+1 {{returns updated caches but has no KV cache}}
  %o, %c1, %c2 = ee.attention %q, %k, %k heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>)
  return
}

// -----

// attention: with a cache, both updated caches are returned
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{with a KV cache, returns the output and the updated key and value caches}}
  %o = ee.attention %q, %k, %k cache(%c, %c) positions(%p) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  return
}

// -----

// attention: caches hold num_kv_heads heads
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x8xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{key cache features (8) must equal 'num_kv_heads' x head dimension (4)}}
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%c, %c) positions(%p) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x8xf32>, tensor<?x64x8xf32>, tensor<?x?xi32>) -> (tensor<?x?x8xf32>, tensor<?x64x8xf32>, tensor<?x64x8xf32>)
  return
}

// -----

// attention: key and value caches have the same type
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %kc: tensor<?x64x4xf32>, %vc: tensor<?x32x4xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{key and value caches must have the same type}}
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%kc, %vc) positions(%p) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x32x4xf32>, tensor<?x?xi32>) -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x32x4xf32>)
  return
}

// -----

// attention: updated caches have the caches' type
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{updated caches must have the type of the caches}}
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%c, %c) positions(%p) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>, tensor<?x?xi32>) -> (tensor<?x?x8xf32>, tensor<?x32x4xf32>, tensor<?x64x4xf32>)
  return
}

// -----

// attention: positions cover the new tokens
func.func @f(%q: tensor<?x1x8xf32>, %k: tensor<?x1x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x2xi32>) {
  // expected-error @+1 {{sequence size of the query (1) differs from the positions (2)}}
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%c, %c) positions(%p) heads 2 kv_heads 1 : (tensor<?x1x8xf32>, tensor<?x1x4xf32>, tensor<?x1x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>, tensor<?x2xi32>) -> (tensor<?x1x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
  return
}

// -----

// cross_entropy: temperature is positive
func.func @f(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>) -> f32 {
  // expected-error @+1 {{'temperature' must be a positive finite number, got 0}}
  %x = ee.cross_entropy %l, %t temperature 0.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}

// -----

// cross_entropy: labels cover the same tokens
func.func @f(%l: tensor<?x7x32xf32>, %t: tensor<?x8xi32>) -> f32 {
  // expected-error @+1 {{sequence size of the logits (7) differs from the labels (8)}}
  %x = ee.cross_entropy %l, %t temperature 1.0 : tensor<?x7x32xf32>, tensor<?x8xi32>
  return %x : f32
}

// -----

// exit_confidence: one confidence per token
func.func @f(%l: tensor<3x?x32xf32>) -> tensor<2x?xf32> {
  // expected-error @+1 {{batch size of the logits (3) differs from the confidence (2)}}
  %c = ee.exit_confidence %l : tensor<3x?x32xf32> -> tensor<2x?xf32>
  return %c : tensor<2x?xf32>
}

// -----

// exit_decision: the choice and results per token of the logits
func.func @f(%l: tensor<3x?x32xf32>, %c: tensor<3x?xf32>, %o: tensor<3x?x4xf32>, %s: tensor<2x?xi64>) {
  // expected-error @+1 {{batch size of the logits (3) differs from the state (2)}}
  %d:4 = ee.exit_decision %l, %c, %o, %s : tensor<3x?x32xf32>, tensor<3x?xf32>, tensor<3x?x4xf32>, tensor<2x?xi64> -> tensor<3x?xi32>, tensor<3x?xi32>, tensor<3x?xf32>, tensor<3x?xi64>
  return
}

// -----

// exit_decision: four choice values per token
func.func @f(%l: tensor<?x?x32xf32>, %c: tensor<?x?xf32>, %o: tensor<?x?x3xf32>, %s: tensor<?x?xi64>) {
  // expected-error @+1 {{takes 4 choice values per token (threshold, temperature, top_k, top_p), got 3}}
  %d:4 = ee.exit_decision %l, %c, %o, %s : tensor<?x?x32xf32>, tensor<?x?xf32>, tensor<?x?x3xf32>, tensor<?x?xi64> -> tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
  return
}

// -----

// activations: model dimensions are static
func.func @f(%x: tensor<?x?x?xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{operand #0 must be f32 tensor [batch, seq, features] with a static feature size}}
  %y = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x?xf32>, tensor<8xf32>
  return
}

// -----

// weights: statically shaped
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<?x8xf32>) {
  // expected-error @+1 {{operand #1 must be statically shaped 2-D f32 or bf16 tensor}}
  %y = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<?x8xf32> -> tensor<?x?x4xf32>
  return
}

// -----

// exit: the declared layer must be the one its input comes out of
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{declares layer 2 (that layer's output, the output of layer 2) but its input has passed 1 decoder layers}}
  %l = ee.exit %y0 exit 0 layer 2 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// exit: a pre_exit exit reads its layer's input
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{declares layer 1 (pre_exit: that layer's input, the output of layer 0) but its input has passed 1 decoder layers}}
  %l = ee.exit %y0 exit 0 layer 1 pre_exit branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// exit: the index must be one of the config's exits
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{is exit 1 but the module's ee.config declares 1 exits}}
  %l = ee.exit %y0 exit 1 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// exit: the layer must be the config's
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  %y1, %h1 = ee.decoder_layer %y0, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.1") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{declares layer 2 but the module's ee.config puts exit 0 at layer 1}}
  %l = ee.exit %y1 exit 0 layer 2 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// exit: the structure must be the config's
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  // expected-error @+1 {{structure (pre_exit, branch none) differs from the module's ee.config (branch none)}}
  %l = ee.exit %x exit 0 layer 1 pre_exit branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// exit: the layer attributes must be the config's
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{layer attributes #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 500000.0> differ from those of the module's ee.config}}
  %l = ee.exit %y0 exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 500000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// decoder_layer: the layer attributes must be the config's
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  // expected-error @+1 {{layer attributes #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-06, rope_theta = 10000.0> differ from those of the module's ee.config}}
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-06, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}
}

// -----

// final_head: the config must not claim more layers than the module has
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 3, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  %y1, %h1 = ee.decoder_layer %y0, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.1") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{reads the output of layer 2 but the module's ee.config declares num_hidden_layers = 3}}
  %f = ee.final_head %y1 norm(@model.norm.weight) output(@model.embed_tokens.weight) eps 1.0e-05 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// final_head: eps must be the config's rms_norm_eps
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  %y1, %h1 = ee.decoder_layer %y0, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.1") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{eps 1.0e-06 differs from the module's ee.config rms_norm_eps (1.0e-05)}}
  %f = ee.final_head %y1 norm(@model.norm.weight) output(@model.embed_tokens.weight) eps 1.0e-06 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}

// -----

// final_head: the logits are the config's vocabulary
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  %y0, %h0 = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.0") : tensor<?x?x8xf32>, tensor<?x?xi32>
  %y1, %h1 = ee.decoder_layer %y0, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("model.layers.1") : tensor<?x?x8xf32>, tensor<?x?xi32>
  // expected-error @+1 {{logits features (16) must equal the module's ee.config vocab_size (32)}}
  %f = ee.final_head %y1 norm(@model.norm.weight) output(@model.embed_tokens.weight) eps 1.0e-05 : tensor<?x?x8xf32> -> tensor<?x?x16xf32>
  return
}
}

// -----

// embedding: the features are the config's hidden_size
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.0.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.0.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.0.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.0.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.layers.1.input_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.self_attn.q_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.self_attn.k_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.v_proj.weight : tensor<4x8xf32>
  ee.parameter @model.layers.1.self_attn.o_proj.weight : tensor<8x8xf32>
  ee.parameter @model.layers.1.post_attention_layernorm.weight : tensor<8xf32>
  ee.parameter @model.layers.1.mlp.gate_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.up_proj.weight : tensor<16x8xf32>
  ee.parameter @model.layers.1.mlp.down_proj.weight : tensor<8x16xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
func.func @f(%ids: tensor<?x?xi32>, %p: tensor<?x?xi32>) {
  // expected-error @+1 {{result features (16) must equal the module's ee.config hidden_size (8)}}
  %x = ee.embedding %ids table(@model.embed_tokens.weight) : tensor<?x?xi32> -> tensor<?x?x16xf32>
  return
}
}

// -----

// config: a value float32 cannot hold (it would underflow to zero)
// expected-error @+1 {{'rope_theta' must be a positive finite number, got 1.0e-320, which float32 (normal numbers from 1.2e-38 to 3.4e+38) cannot hold}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 1.0e-320, tie_word_embeddings = true, early_exit = #ee.early_exit<exit_layer_nums = [1], pre_exit = false, exit_layer_weight = [0.5], exit_layer_weight_init = [0.5], exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear, exit_layer_temperature = [1.0], use_exit_norm = false, use_exit_mlp = false, use_exit_block = false, untie_exit_output_weights = false>>} {}

// -----

// loss_weight: a weight float32 cannot hold (it would overflow to inf)
func.func @f(%i: i64) -> f32 {
  // expected-error @+1 {{'target' must be a non-negative finite number, got 1.0e+308, which float32 (normal numbers from 1.2e-38 to 3.4e+38) cannot hold}}
  %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = 1.0e308, warmup_iters = 0, style = linear>
  return %w : f32
}

// -----

// send: a peer is another stage
func.func @f(%y: tensor<?x?x8xf32>) {
  // expected-error @+1 {{peer 0 is this stage itself}}
  %r = ee.send %y to 0 tag 0 : tensor<?x?x8xf32> -> !ee.request
  ee.wait %r : !ee.request
  return
}

// -----

// send: its request has no payload
func.func @f(%y: tensor<?x?x8xf32>) {
  // expected-error @+1 {{a send delivers nothing: its request is !ee.request, not '!ee.request<tensor<?x?x8xf32>>'}}
  %r = ee.send %y to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request<tensor<?x?x8xf32>>
  return
}

// -----

// send: tags are non-negative
func.func @f(%y: tensor<?x?x8xf32>) {
  // expected-error @+1 {{attribute 'tag' failed to satisfy constraint}}
  %r = ee.send %y to 1 tag -1 : tensor<?x?x8xf32> -> !ee.request
  return
}

// -----

// recv: a peer is another stage
func.func @f(%b: index, %s: index) {
  // expected-error @+1 {{peer 0 is this stage itself}}
  %r = ee.recv from 0 tag 0 shape(%b, %s) : !ee.request<tensor<?x?x8xf32>>
  return
}

// -----

// recv: it delivers a tensor
func.func @f() {
  // expected-error @+1 {{a receive delivers a ranked tensor: its request must be !ee.request<tensor<...>>, got '!ee.request'}}
  %r = ee.recv from -1 tag 0 : !ee.request
  return
}

// -----

// recv: one size per dynamic dimension
func.func @f(%b: index) {
  // expected-error @+1 {{has 1 sizes for the 2 dynamic dimensions of 'tensor<?x?x8xf32>'}}
  %r = ee.recv from -1 tag 0 shape(%b) : !ee.request<tensor<?x?x8xf32>>
  return
}

// -----

// collective: the tied group names its weight
func.func @f(%g: tensor<32x8xf32>) {
  // expected-error @+1 {{over the tied group names the weight its stages share: tied(@weight)}}
  %r = ee.all_reduce_start %g over tied : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
  return
}

// -----

// collective: only the tied group names a weight
func.func @f(%g: tensor<32x8xf32>) {
  // expected-error @+1 {{names a weight, which only the tied group takes}}
  %r = ee.all_reduce_start %g over dp(@w) : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
  return
}

// -----

// collective: it delivers a tensor like its input
func.func @f(%g: tensor<32x8xf32>) {
  // expected-error @+1 {{delivers a tensor of the input's element type and rank: its request must be !ee.request<tensor<...>> like 'tensor<32x8xf32>', got '!ee.request<tensor<32xf32>>'}}
  %r = ee.all_reduce_start %g over dp : tensor<32x8xf32> -> !ee.request<tensor<32xf32>>
  return
}

// -----

// all_reduce_start: the sum has the input's type
func.func @f(%g: tensor<32x8xf32>) {
  // expected-error @+1 {{delivers a sum of the input's type 'tensor<32x8xf32>', not 'tensor<16x8xf32>'}}
  %r = ee.all_reduce_start %g over dp : tensor<32x8xf32> -> !ee.request<tensor<16x8xf32>>
  return
}

// -----

// reduce_scatter_start: a block is a dynamic 1-D tensor
func.func @f(%g: tensor<32x8xf32>) {
  // expected-error @+1 {{delivers a block of 'tensor<32x8xf32>' as 'tensor<?xf32>', not 'tensor<16x8xf32>'}}
  %r = ee.reduce_scatter_start %g over dp : tensor<32x8xf32> -> !ee.request<tensor<16x8xf32>>
  return
}

// -----

// reduce_scatter_start: the whole tensor has a static shape
func.func @f(%g: tensor<?x8xf32>) {
  // expected-error @+1 {{scatters the blocks of a statically shaped tensor, not 'tensor<?x8xf32>'}}
  %r = ee.reduce_scatter_start %g over dp : tensor<?x8xf32> -> !ee.request<tensor<?xf32>>
  return
}

// -----

// all_gather_start: the block is a dynamic 1-D tensor of the whole one's elements
func.func @f(%g: tensor<5xf32>) {
  // expected-error @+1 {{takes a block of 'tensor<32xf32>' as 'tensor<?xf32>', not 'tensor<5xf32>'}}
  %r = ee.all_gather_start %g over dp : tensor<5xf32> -> !ee.request<tensor<32xf32>>
  return
}

// -----

// all_gather_start: not over a tied group
func.func @f(%g: tensor<?xf32>) {
  // expected-error @+1 {{gathers over the tp, pp or dp group, not a tied group}}
  %r = ee.all_gather_start %g over tied(@w) : tensor<?xf32> -> !ee.request<tensor<32xf32>>
  return
}

// -----

// all_gather_parameter_start: over the data-parallel group
ee.parameter @w : tensor<8xf32>
func.func @f() {
  // expected-error @+1 {{gathers a parameter's blocks over the data-parallel group (dp) only}}
  %r = ee.all_gather_parameter_start @w over tp : !ee.request
  return
}

// -----

// all_gather_parameter_start: in place, nothing delivered
ee.parameter @w : tensor<8xf32>
func.func @f() {
  // expected-error @+1 {{updates the parameter in place: its request is !ee.request, not '!ee.request<tensor<8xf32>>'}}
  %r = ee.all_gather_parameter_start @w over dp : !ee.request<tensor<8xf32>>
  return
}

// -----

// all_gather_parameter_start: the parameter exists
func.func @f() {
  // expected-error @+1 {{'@v' does not name an ee.parameter}}
  %r = ee.all_gather_parameter_start @v over dp : !ee.request
  return
}

// -----

// adamw: with dp_shard the gradient is a block
ee.parameter @w : tensor<8xf32>
func.func @f(%g: tensor<8xf32>, %lr: f32, %step: i64, %h: f32) {
  // expected-error @+1 {{with dp_shard takes a block of '@w' as 'tensor<?xf32>', not 'tensor<8xf32>'}}
  ee.adamw @w, %g lr %lr step %step scale %h beta1 %h beta2 %h eps %h weight_decay %h dp_shard : tensor<8xf32>
  return
}

// -----

// wait: a send's request yields nothing
func.func @f(%y: tensor<?x?x8xf32>) {
  %r = ee.send %y to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request
  // expected-error @+1 {{waits on a send, which delivers nothing, yet has a result}}
  %x = ee.wait %r : !ee.request -> tensor<?x?x8xf32>
  return
}

// -----

// wait: it yields the payload
func.func @f(%b: index, %s: index) {
  %r = ee.recv from -1 tag 0 shape(%b, %s) : !ee.request<tensor<?x?x8xf32>>
  // expected-error @+1 {{must yield the request's payload 'tensor<?x?x8xf32>'}}
  %x = ee.wait %r : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x16xf32>
  return
}

// -----

// wait: each request is waited on once
func.func @f(%y: tensor<?x?x8xf32>) {
  %r = ee.send %y to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request
  ee.wait %r : !ee.request
  // expected-error @+1 {{is one of 2 waits on the same request; each request is waited on once}}
  ee.wait %r : !ee.request
  return
}

// -----

// adamw: the parameter exists
ee.parameter @w : tensor<8xf32>
func.func @f(%g: tensor<8xf32>, %lr: f32, %step: i64, %h: f32) {
  // expected-error @+1 {{'@v' does not name an ee.parameter}}
  ee.adamw @v, %g lr %lr step %step scale %h beta1 %h beta2 %h eps %h weight_decay %h : tensor<8xf32>
  return
}

// -----

// adamw: the gradient has the parameter's type
ee.parameter @w : tensor<8xf32>
func.func @f(%g: tensor<4xf32>, %lr: f32, %step: i64, %h: f32) {
  // expected-error @+1 {{gradient type 'tensor<4xf32>' differs from 'tensor<8xf32>', the f32 gradient of '@w'}}
  ee.adamw @w, %g lr %lr step %step scale %h beta1 %h beta2 %h eps %h weight_decay %h : tensor<4xf32>
  return
}

// -----

// all_reduce_start: a scalar's request delivers a scalar
func.func @f(%x: f32) {
  // expected-error @+1 {{sums a scalar: its request must be !ee.request<f32>, got '!ee.request<tensor<1xf32>>'}}
  %r = ee.all_reduce_start %x over pp : f32 -> !ee.request<tensor<1xf32>>
  return
}

// -----

// all_reduce_start: a scalar is summed over a rank group, not a tied group
func.func @f(%x: f32) {
  // expected-error @+1 {{sums a scalar over the tp, pp or dp group, not a tied group}}
  %r = ee.all_reduce_start %x over tied(@w) : f32 -> !ee.request<f32>
  return
}

// -----

// reduce_scatter_start: blocks of a tensor
func.func @f(%x: f32) {
  // expected-error @+1 {{scatters the blocks of a statically shaped tensor, not 'f32'}}
  %r = ee.reduce_scatter_start %x over dp : f32 -> !ee.request<f32>
  return
}

// -----

// ee.buffers: one per result
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'ee.buffers' must hold one #ee.buffer (or unit) per result}}
  %y = ee.add %x, %x {ee.buffers = [#ee.buffer<per_token, 0>, unit]} : tensor<?x?x8xf32>
  return
}

// -----

// #ee.buffer: aligned offsets
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{a buffer's offset must be a non-negative multiple of 64, not 32}}
  %y = ee.add %x, %x {ee.buffers = [#ee.buffer<per_token, 32>]} : tensor<?x?x8xf32>
  return
}

// -----

// ee.arena: on a function
// expected-error @+1 {{'ee.arena' must be an #ee.arena on a function}}
module attributes {ee.arena = #ee.arena<per_token_bytes = 0, fixed_bytes = 0>} {
}

// -----

// #ee.arena: sizes are non-negative
// expected-error @+1 {{an arena's sizes must be non-negative, not -64 and 0}}
func.func @f() attributes {ee.arena = #ee.arena<per_token_bytes = -64, fixed_bytes = 0>} {
  return
}

// -----

// ee.entry: a dictionary on a function
// expected-error @+1 {{'ee.entry' must be a dictionary on a function}}
func.func @f() attributes {ee.entry = "forward"} {
  return
}

// -----

// #ee.tensor_parallel: at least two ranks
// expected-error @+1 {{a tensor-parallel split needs at least 2 ranks, not 1}}
module attributes {ee.tensor_parallel = #ee.tensor_parallel<size = 1, split_dims = {}>} {
}

// -----

// #ee.tensor_parallel: rows or columns
// expected-error @+1 {{the split of 'w' must be dimension 0 (rows) or 1 (columns)}}
module attributes {ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {w = 2 : i64}>} {
}

// -----

// ee.tensor_parallel: the typed split
// expected-error @+1 {{'ee.tensor_parallel' must be an #ee.tensor_parallel attached to a builtin.module}}
module attributes {ee.tensor_parallel = {size = 2 : i64}} {
}

// -----

// #ee.data_parallel: buckets are MPI counts
// expected-error @+1 {{a gradient bucket holds 1 to 2147483647 elements (an MPI count), not 0}}
module attributes {ee.data_parallel = #ee.data_parallel<bucket_size = 0, distributed_optimizer = false>} {
}

// -----

// ee.data_parallel: the typed plan
// expected-error @+1 {{'ee.data_parallel' must be an #ee.data_parallel attached to a builtin.module}}
module attributes {ee.data_parallel = {bucket_size = 4 : i64}} {
}

// -----

// #ee.inference: a known method
// expected-error @+1 {{an inference plan's method is recompute or pipeline, not 'beam'}}
module attributes {ee.inference = #ee.inference<method = "beam", layers = 0, segments = [], exits = [], final = "gen_final", stages = []>} {
}

// -----

// #ee.inference: segments in order
// expected-error @+1 {{inference segment 1 runs layers [2, 4), not the next ones from 1}}
module attributes {ee.inference = #ee.inference<method = "recompute", layers = 4, segments = [#ee.segment<function = "a", begin_layer = 0, end_layer = 1, stage = 0, caches = [], exits = []>, #ee.segment<function = "b", begin_layer = 2, end_layer = 4, stage = 0, caches = [], exits = []>], exits = [], final = "gen_final", stages = []>} {
}

// -----

// #ee.inference: the segments cover the model
// expected-error @+1 {{the inference segments cover 1 of 4 layers}}
module attributes {ee.inference = #ee.inference<method = "recompute", layers = 4, segments = [#ee.segment<function = "a", begin_layer = 0, end_layer = 1, stage = 0, caches = [], exits = []>], exits = [], final = "gen_final", stages = []>} {
}

// -----

// #ee.inference: segments are #ee.segment
// expected-error @+1 {{inference segment 0 is not an #ee.segment}}
module attributes {ee.inference = #ee.inference<method = "recompute", layers = 1, segments = [1], exits = [], final = "gen_final", stages = []>} {
}

// -----

// #ee.inference: stages cover the model in order
// expected-error @+1 {{the inference stages cover 0 of 1 layers}}
module attributes {ee.inference = #ee.inference<method = "recompute", layers = 1, segments = [#ee.segment<function = "a", begin_layer = 0, end_layer = 1, stage = 0, caches = [], exits = []>], exits = [], final = "gen_final", stages = []>} {
}

// -----

// #ee.inference: stages are #ee.inference_stage of the next layers
// expected-error @+1 {{inference stage 0 must be an #ee.inference_stage of the next layers from 0}}
module attributes {ee.inference = #ee.inference<method = "recompute", layers = 1, segments = [#ee.segment<function = "a", begin_layer = 0, end_layer = 1, stage = 0, caches = [], exits = []>], exits = [], final = "gen_final", stages = [#ee.inference_stage<begin_layer = 1, end_layer = 1, cost = 1.0 : f64>]>} {
}

// -----

// #ee.inference: exits read boundaries of the model
// expected-error @+1 {{inference exit 0 must be an #ee.exit_plan reading a boundary in [0, 1]}}
module attributes {ee.inference = #ee.inference<method = "recompute", layers = 1, segments = [#ee.segment<function = "a", begin_layer = 0, end_layer = 1, stage = 0, caches = [], exits = []>], exits = [#ee.exit_plan<exit = 0, layer = 2, boundary = 2, function = "e", caches = []>], final = "gen_final", stages = [#ee.inference_stage<begin_layer = 0, end_layer = 1, cost = 1.0 : f64>]>} {
}

// -----

// mixed precision: a product's factors share their element type
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<4x8xbf16>) {
  // expected-error @+1 {{the input ('f32') and the weight ('bf16') must have one element type}}
  %y = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<4x8xbf16> -> tensor<?x?x4xf32>
  return
}

// -----

// mixed precision: products return f32
func.func @f(%x: tensor<?x?x8xbf16>, %w: tensor<4x8xbf16>) {
  // expected-error @+1 {{result #0 must be f32 tensor [batch, seq, features] with a static feature size}}
  %y = ee.linear %x, %w : tensor<?x?x8xbf16>, tensor<4x8xbf16> -> tensor<?x?x4xbf16>
  return
}

// -----

// mixed precision: a norm's bf16 result has its input's shape
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<8xbf16>) {
  // expected-error @+1 {{result type 'tensor<?x4x8xbf16>' must have the shape of the input type 'tensor<?x?x8xf32>'}}
  %y = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<?x4x8xbf16>
  return
}

// -----

// mixed precision: SwiGLU's bf16 result has the gate's shape
func.func @f(%g: tensor<?x?x8xf32>, %u: tensor<?x?x8xf32>) {
  // expected-error @+1 {{result type 'tensor<?x?x4xbf16>' must have the shape of the input type 'tensor<?x?x8xf32>'}}
  %y = ee.swiglu %g, %u : tensor<?x?x8xf32> -> tensor<?x?x4xbf16>
  return
}

// -----

// ee.convert changes the element type
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{converts 'f32' to itself; it must change the element type}}
  %y = ee.convert %x : tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  return
}

// -----

// ee.convert keeps the shape
func.func @f(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result type 'tensor<8x4xbf16>' must have the shape of the input type 'tensor<4x8xf32>'}}
  %y = ee.convert %x : tensor<4x8xf32> -> tensor<8x4xbf16>
  return
}

// -----

// backward products: dy and the weight share their element type
func.func @f(%dy: tensor<?x?x4xf32>, %w: tensor<4x8xbf16>) {
  // expected-error @+1 {{dy ('f32') and the weight ('bf16') must have one element type}}
  %dx = ee.linear_grad_input %dy, %w : tensor<?x?x4xf32>, tensor<4x8xbf16> -> tensor<?x?x8xf32>
  return
}

// -----

// backward products: dy and the input share their element type
func.func @f(%dy: tensor<?x?x4xbf16>, %x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{dy ('bf16') and the input ('f32') must have one element type}}
  %dw = ee.linear_grad_weight %dy, %x : tensor<?x?x4xbf16>, tensor<?x?x8xf32> -> tensor<4x8xf32>
  return
}

// -----

// a norm weight's gradient has the weight's shape
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<8xbf16>, %dy: tensor<?x?x8xf32>) {
  // expected-error @+1 {{dweight type 'tensor<4xf32>' must have the shape of the weight type 'tensor<8xbf16>'}}
  %dx, %dw = ee.rms_norm_grad %x, %w, %dy eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<4xf32>
  return
}

// -----

// mixed precision: a norm rounds to bf16 with a bf16 weight only
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{rounds its result to bf16 with a bf16 weight only (ee-mixed-precision)}}
  %y = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32> -> tensor<?x?x8xbf16>
  return
}

// -----

// ee.torch_dtype: a known dtype on a module
// expected-error @+1 {{'ee.torch_dtype' must be "float32", "float16" or "bfloat16" on a module}}
module attributes {ee.torch_dtype = "int8"} {
}
