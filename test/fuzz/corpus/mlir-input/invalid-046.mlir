// tp_all_gather: one row per token
func.func @f(%a: tensor<3x?x8xf32>) -> tensor<2x?x16xf32> {
  %g = ee.tp_all_gather %a : tensor<3x?x8xf32> -> tensor<2x?x16xf32>
  return %g : tensor<2x?x16xf32>
}
