// rotary: positions cover the same tokens
func.func @f(%x: tensor<1x?x8xf32>, %p: tensor<2x?xi32>) -> tensor<1x?x8xf32> {
  %y = ee.rotary %x, %p heads 2 theta 10000.0 : tensor<1x?x8xf32>, tensor<2x?xi32>
  return %y : tensor<1x?x8xf32>
}
