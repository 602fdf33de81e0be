// embedding_lookup: rows have the result's width
func.func @f(%t: tensor<32x8xf32>, %ids: tensor<?x?xi32>) -> tensor<?x?x16xf32> {
  %x = ee.embedding_lookup %t, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x16xf32>
  return %x : tensor<?x?x16xf32>
}
