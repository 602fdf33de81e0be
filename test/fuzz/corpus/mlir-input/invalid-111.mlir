// activations: model dimensions are static
func.func @f(%x: tensor<?x?x?xf32>, %w: tensor<8xf32>) {
  %y = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x?xf32>, tensor<8xf32>
  return
}
