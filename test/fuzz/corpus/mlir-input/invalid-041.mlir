// ee.pipeline is a module's dictionary too
module attributes {ee.pipeline = [1, 2]} {}
