// attention: a cache has keys and values
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %c: tensor<?x64x4xf32>, %p: tensor<?x?xi32>) {
  %o, %c1 = "ee.attention"(%q, %k, %k, %c, %p) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1, 0>}> : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x64x4xf32>, tensor<?x?xi32>) -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>)
  return
}
