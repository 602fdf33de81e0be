// A cool-down to zero is not constant: it stays until the schedule says 0 forever.
// CHECK-LABEL: func.func @cooldown_to_zero
func.func @cooldown_to_zero(%logits: tensor<?x?x32xf32>, %labels: tensor<?x?xi32>,
                            %iter: i64) -> f32 {
  // CHECK: ee.exit_loss
  %l = ee.exit_loss %logits, %labels, %iter
      weight #ee.loss_weight<init = 1.0, target = 0.0, warmup_iters = 10, style = cosine>
      temperature 1.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %l : f32
}
