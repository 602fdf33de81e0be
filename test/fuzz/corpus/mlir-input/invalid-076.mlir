// exit_loss: labels cover the same tokens
func.func @f(%l: tensor<4x?x32xf32>, %t: tensor<2x?xi32>, %i: i64) -> f32 {
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> temperature 1.0 : tensor<4x?x32xf32>, tensor<2x?xi32>
  return %x : f32
}
