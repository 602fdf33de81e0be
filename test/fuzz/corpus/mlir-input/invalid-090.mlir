// rotary: the head dimension is even
func.func @f(%x: tensor<?x?x6xf32>, %p: tensor<?x?xi32>) -> tensor<?x?x6xf32> {
  %y = ee.rotary %x, %p heads 2 theta 10000.0 : tensor<?x?x6xf32>, tensor<?x?xi32>
  return %y : tensor<?x?x6xf32>
}
