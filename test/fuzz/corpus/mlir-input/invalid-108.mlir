// cross_entropy: temperature is positive
func.func @f(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>) -> f32 {
  %x = ee.cross_entropy %l, %t temperature 0.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %x : f32
}
