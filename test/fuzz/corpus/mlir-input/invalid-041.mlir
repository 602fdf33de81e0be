// ee.pipeline: the typed plan
module attributes {ee.pipeline = {stages = []}} {}
