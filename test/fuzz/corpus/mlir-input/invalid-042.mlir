// ee.differentiate lists arguments of a function
func.func @f(%x: tensor<?x?x8xf32>) attributes {ee.differentiate = array<i64: 1>} {
  return
}
