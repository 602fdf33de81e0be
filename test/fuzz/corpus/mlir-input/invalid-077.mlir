// exit_loss: the temperature is the exit's
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%h: tensor<?x?x8xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
  %l = ee.exit %h exit 0 layer 1 branch none #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> temperature 2.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}
