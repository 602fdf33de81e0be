// final_head: the output matrix must be declared
ee.parameter @n : tensor<8xf32>
func.func @f(%y: tensor<?x?x8xf32>) {
  %l = ee.final_head %y norm(@n) output(@lm_head.weight) eps 1.0e-05 : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
