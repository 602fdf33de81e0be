// attention: cache rows index a cache
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %r: tensor<?x?xi32>) {
  %o = "ee.attention"(%q, %k, %k, %r) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1>}> : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  return
}
