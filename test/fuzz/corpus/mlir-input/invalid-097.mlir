// attention: the output has the query's type
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) -> tensor<1x?x8xf32> {
  %o = ee.attention %q, %k, %k heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<1x?x8xf32>
  return %o : tensor<1x?x8xf32>
}
