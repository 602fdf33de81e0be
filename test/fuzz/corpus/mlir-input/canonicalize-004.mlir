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
