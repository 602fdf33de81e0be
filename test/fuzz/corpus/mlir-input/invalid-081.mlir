// rms_norm: epsilon is positive
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<8xf32>) -> tensor<?x?x8xf32> {
  %y = ee.rms_norm %x, %w eps -1.0 : tensor<?x?x8xf32>, tensor<8xf32>
  return %y : tensor<?x?x8xf32>
}
