// attention: heads divide the query features
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
  %o = ee.attention %q, %k, %k heads 3 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}
