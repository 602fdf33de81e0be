// layer: rotary base positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) {
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 0.0> weights("l") : tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}
