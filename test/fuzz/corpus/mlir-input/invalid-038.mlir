// ee.kv_cache names a function's cache-rows argument
func.func @f(%x: tensor<?x?xi32>) attributes {ee.kv_cache = 1 : i64} {
  return
}
