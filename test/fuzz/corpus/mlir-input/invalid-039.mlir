// ee.kv_cache belongs on a function
module attributes {ee.kv_cache = 0 : i64} {}
