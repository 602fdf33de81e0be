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
  %l = ee.exit %y0 exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 500000.0> temperature 1.0 weight #ee.loss_weight<init = 0.5, target = 0.5, warmup_iters = 0, style = linear> output(@model.embed_tokens.weight) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
}
