// attention: keys hold num_kv_heads heads
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x8xf32>, %v: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}
