// final_head: the norm weight has the hidden size
ee.parameter @n : tensor<4xf32>
ee.parameter @emb : tensor<32x8xf32>
func.func @f(%y: tensor<?x?x8xf32>) {
  %l = ee.final_head %y norm(@n) output(@emb) eps 1.0e-05 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
