// A schedule that changes over the warm-up stays.
// CHECK-LABEL: func.func @warmup_schedule
func.func @warmup_schedule(%iter: i64) -> f32 {
  // CHECK: %[[W:.*]] = ee.loss_weight %{{.*}} schedule <init = 0.0, target = 0.5, warmup_iters = 100, style = linear>
  // CHECK: return %[[W]]
  %a = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 100, style = linear>
  return %a : f32
}
