// loss_weight: warm-up non-negative
func.func @f(%i: i64) -> f32 {
  %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = -1, style = linear>
  return %w : f32
}
