// weights: statically shaped
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<?x8xf32>) {
  %y = ee.linear %x, %w : tensor<?x?x8xf32>, tensor<?x8xf32> -> tensor<?x?x4xf32>
  return
}
