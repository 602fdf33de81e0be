// final_head: epsilon is positive
func.func @f(%y: tensor<?x?x8xf32>) {
  %l = ee.final_head %y norm(@n) output(@emb) eps 0.0 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
