// An exit whose weight is zero at every iteration contributes nothing.
// CHECK-LABEL: func.func @zero_weight_exit_loss
func.func @zero_weight_exit_loss(%logits: tensor<?x?x32xf32>, %labels: tensor<?x?xi32>,
                                 %iter: i64) -> (f32, f32) {
  // CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
  // CHECK-DAG: %[[KEPT:.*]] = ee.exit_loss %{{.*}} weight <init = 0.0, target = 0.5
  // CHECK: return %[[ZERO]], %[[KEPT]]
  %zero = ee.exit_loss %logits, %labels, %iter
      weight #ee.loss_weight<init = 0.0, target = 0.0, warmup_iters = 0, style = linear>
      temperature 1.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  %kept = ee.exit_loss %logits, %labels, %iter
      weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 10, style = linear>
      temperature 1.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %zero, %kept : f32, f32
}
