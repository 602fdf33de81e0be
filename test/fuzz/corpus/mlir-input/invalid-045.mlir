// tp_all_gather: a whole number of blocks
func.func @f(%a: tensor<?x?x8xf32>) -> tensor<?x?x12xf32> {
  %g = ee.tp_all_gather %a : tensor<?x?x8xf32> -> tensor<?x?x12xf32>
  return %g : tensor<?x?x12xf32>
}
