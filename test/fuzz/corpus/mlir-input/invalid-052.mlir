// get_parameter: the type must be the declared one
ee.parameter @w : tensor<4xf32>
func.func @f() -> tensor<8xf32> {
  %w = ee.get_parameter @w : tensor<8xf32>
  return %w : tensor<8xf32>
}
