// linear: token dimensions agree
func.func @f(%x: tensor<2x?x8xf32>, %w: tensor<4x8xf32>) -> tensor<3x?x4xf32> {
  %y = ee.linear %x, %w : tensor<2x?x8xf32>, tensor<4x8xf32> -> tensor<3x?x4xf32>
  return %y : tensor<3x?x4xf32>
}
