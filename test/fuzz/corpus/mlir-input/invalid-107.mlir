// attention: positions cover the new tokens
func.func @f(%q: tensor<?x1x8xf32>, %k: tensor<?x1x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x2xi32>) {
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%c, %c) positions(%p) heads 2 kv_heads 1 : (tensor<?x1x8xf32>, tensor<?x1x4xf32>, tensor<?x1x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>, tensor<?x2xi32>) -> (tensor<?x1x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
  return
}
