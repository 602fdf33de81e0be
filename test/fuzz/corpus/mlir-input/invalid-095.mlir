// attention: keys cover the same tokens as queries
func.func @f(%q: tensor<?x3x8xf32>, %k: tensor<?x4x4xf32>, %v: tensor<?x3x4xf32>) -> tensor<?x3x8xf32> {
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<?x3x8xf32>, tensor<?x4x4xf32>, tensor<?x3x4xf32>) -> tensor<?x3x8xf32>
  return %o : tensor<?x3x8xf32>
}
