// loss_weight: a weight float32 cannot hold (it would overflow to inf)
func.func @f(%i: i64) -> f32 {
  %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = 1.0e308, warmup_iters = 0, style = linear>
  return %w : f32
}
