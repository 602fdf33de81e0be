// logits: the output matrix is [vocab, hidden]
func.func @f(%x: tensor<?x?x8xf32>, %w: tensor<32x8xf32>) -> tensor<?x?x16xf32> {
  %y = ee.logits %x, %w : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}
