// ee.gradients names parameters
func.func @f() attributes {ee.gradients = [1]} {
  return
}
