// embedding: token dimensions agree
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%ids: tensor<2x?xi32>) -> tensor<3x?x8xf32> {
  %x = ee.embedding %ids table(@emb) : tensor<2x?xi32> -> tensor<3x?x8xf32>
  return %x : tensor<3x?x8xf32>
}
