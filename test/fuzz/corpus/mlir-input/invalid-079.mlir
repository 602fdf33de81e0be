// embedding_lookup: token dimensions agree
func.func @f(%t: tensor<32x8xf32>, %ids: tensor<?x3xi32>) -> tensor<?x4x8xf32> {
  %x = ee.embedding_lookup %t, %ids : tensor<32x8xf32>, tensor<?x3xi32> -> tensor<?x4x8xf32>
  return %x : tensor<?x4x8xf32>
}
