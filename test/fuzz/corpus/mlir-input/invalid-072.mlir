// final_head: logits cover the same tokens
func.func @f(%y: tensor<?x5x8xf32>) {
  %l = ee.final_head %y norm(@n) output(@emb) eps 1.0e-05 : tensor<?x5x8xf32> -> tensor<?x6x32xf32>
  return
}
