// ee.config is an #ee.config
module attributes {ee.config = 3} {}
