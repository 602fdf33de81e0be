// exit_confidence: one confidence per token
func.func @f(%l: tensor<3x?x32xf32>) -> tensor<2x?xf32> {
  %c = ee.exit_confidence %l : tensor<3x?x32xf32> -> tensor<2x?xf32>
  return %c : tensor<2x?xf32>
}
