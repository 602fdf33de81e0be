// rotary: theta is positive
func.func @f(%x: tensor<?x?x8xf32>, %p: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  %y = ee.rotary %x, %p heads 2 theta 0.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
  return %y : tensor<?x?x8xf32>
}
