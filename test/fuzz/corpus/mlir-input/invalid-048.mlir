// inner_product: both operands have one type
func.func @f(%a: tensor<?x?x8xf32>, %b: tensor<?x?x4xf32>) -> f32 {
  %p = "ee.inner_product"(%a, %b) : (tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> f32
  return %p : f32
}
