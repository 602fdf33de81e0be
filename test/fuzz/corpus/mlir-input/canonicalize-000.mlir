// A constant schedule folds to its target weight.
// CHECK-LABEL: func.func @constant_schedule
func.func @constant_schedule(%iter: i64) -> (f32, f32) {
  // CHECK-DAG: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
  // CHECK-DAG: %[[QUARTER:.*]] = arith.constant 2.500000e-01 : f32
  // CHECK-NOT: ee.loss_weight
  // CHECK: return %[[HALF]], %[[QUARTER]]
  %a = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear>
  %b = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.25, target = 0.25, warmup_iters = 100, style = cosine>
  return %a, %b : f32, f32
}
