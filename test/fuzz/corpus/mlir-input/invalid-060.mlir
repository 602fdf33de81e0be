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
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}
