// ee.inference is a module's dictionary
module attributes {ee.inference = "recompute"} {}
