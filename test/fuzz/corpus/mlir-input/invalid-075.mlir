// exit_loss: temperature is positive
func.func @f(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
  %x = ee.exit_loss %l, %t, %i weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> temperature 0.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}
