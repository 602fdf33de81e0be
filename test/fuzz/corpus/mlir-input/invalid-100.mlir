// attention: a cache needs the new tokens' positions
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>) {
  %o, %c1, %c2 = ee.attention %q, %k, %k cache(%c, %c) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>) -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
  return
}
