// decoder_layer: positions cover the same tokens
func.func @f(%x: tensor<?x4x8xf32>, %p: tensor<?x5xi32>) {
  %y, %h = ee.decoder_layer %x, %p layer #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> weights("l") : tensor<?x4x8xf32>, tensor<?x5xi32>
  return
}
