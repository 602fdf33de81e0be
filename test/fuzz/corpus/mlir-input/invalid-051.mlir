// get_parameter: the symbol must be declared
func.func @f() -> tensor<4xf32> {
  %w = ee.get_parameter @missing : tensor<4xf32>
  return %w : tensor<4xf32>
}
