// ee.split_backward lists arguments of a function
func.func @f(%x: tensor<?x?x8xf32>) attributes {ee.split_backward = [0]} {
  return
}
