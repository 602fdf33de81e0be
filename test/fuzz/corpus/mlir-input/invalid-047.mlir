// tp_all_reduce: the sum has the input's type
func.func @f(%a: tensor<?x?x8xf32>) -> tensor<?x?x4xf32> {
  %p = "ee.tp_all_reduce"(%a) : (tensor<?x?x8xf32>) -> tensor<?x?x4xf32>
  return %p : tensor<?x?x4xf32>
}
