// RUN: ee-opt %s -canonicalize -split-input-file | FileCheck %s

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

// -----

// A schedule that changes over the warm-up stays.
// CHECK-LABEL: func.func @warmup_schedule
func.func @warmup_schedule(%iter: i64) -> f32 {
  // CHECK: %[[W:.*]] = ee.loss_weight %{{.*}} schedule <init = 0.0, target = 0.5, warmup_iters = 100, style = linear>
  // CHECK: return %[[W]]
  %a = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 100, style = linear>
  return %a : f32
}

// -----

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

// -----

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

// -----

// A scale by the constant 1 (the inner product's gradient under a loss of
// weight 1) is its input; other factors stay.
// CHECK-LABEL: func.func @scale_by_one
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x8xf32>, %[[F:.*]]: f32)
// CHECK-NEXT: %[[S:.*]] = ee.scale %[[X]], %[[F]]
// CHECK-NEXT: return %[[X]], %[[S]]
func.func @scale_by_one(%x: tensor<?x?x8xf32>, %f: f32) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %one = arith.constant 1.0 : f32
  %a = ee.scale %x, %one : tensor<?x?x8xf32>
  %b = ee.scale %x, %f : tensor<?x?x8xf32>
  return %a, %b : tensor<?x?x8xf32>, tensor<?x?x8xf32>
}
