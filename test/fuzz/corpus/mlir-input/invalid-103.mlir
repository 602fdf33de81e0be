// attention: with a cache, both updated caches are returned
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x?xi32>) {
  %o = ee.attention %q, %k, %k cache(%c, %c) positions(%p) heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  return
}
