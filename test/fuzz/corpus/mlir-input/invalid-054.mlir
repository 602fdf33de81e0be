// embedding: the table must be declared
func.func @f(%ids: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  %x = ee.embedding %ids table(@emb) : tensor<?x?xi32> -> tensor<?x?x8xf32>
  return %x : tensor<?x?x8xf32>
}
