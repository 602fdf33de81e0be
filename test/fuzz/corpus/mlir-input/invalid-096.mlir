// attention: values cover the same tokens as queries
func.func @f(%q: tensor<2x?x8xf32>, %k: tensor<2x?x4xf32>, %v: tensor<1x?x4xf32>) -> tensor<2x?x8xf32> {
  %o = ee.attention %q, %k, %v heads 2 kv_heads 1 : (tensor<2x?x8xf32>, tensor<2x?x4xf32>, tensor<1x?x4xf32>) -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}
