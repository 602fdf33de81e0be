// FuzzServedModel.h - the model the server fuzz targets parse requests for, without weights.
//
// The one serve.test serves (byte-level, 256 tokens, 128 positions, 4 layers,
// exits after layers 1 and 3): the parsers need only its plan, vocabulary,
// context and tokenizer. Included once by each fuzz executable.
#ifndef EE_TEST_FUZZ_FUZZSERVEDMODEL_H
#define EE_TEST_FUZZ_FUZZSERVEDMODEL_H

#include "cli/serve/ServeRequests.h"

// The command-line library's Manifest::load reads the manifest a compiled
// model links in; no model is linked here and nothing loads one.
extern "C" const char ee_manifest[] = "{}";

namespace {

eert::ServedModel makeModel() {
  eert::InferencePlan plan;
  plan.method = "recompute";
  plan.layers = 4;
  for (int64_t index : {0, 1}) {
    eert::InferencePlan::Exit exit;
    exit.index = index;
    exit.layer = index == 0 ? 1 : 3;
    plan.exits.push_back(exit);
  }
  return {std::move(plan), eert::Tokenizer::forCheckpoint("", 256), "ck", 256, 128};
}

} // namespace

#endif // EE_TEST_FUZZ_FUZZSERVEDMODEL_H
