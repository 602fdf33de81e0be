// rms_norm: one weight per feature
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<4xf32>) -> tensor<?x?x8xf32> {
  %y = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x8xf32>, tensor<4xf32>
  return %y : tensor<?x?x8xf32>
}
