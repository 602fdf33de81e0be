// linear: weight rows are the result features
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x?x5xf32> {
  %y = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x5xf32>
  return %y : tensor<?x?x5xf32>
}
