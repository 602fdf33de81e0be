// The runtime's check of a checkpoint's config.json (io/CheckpointConfig) against the importer's export.
//
// The compiled config is what exportModelConfig writes into a binary's
// manifest, so these tests follow the importer: every field it exports must be
// compared (a changed value is refused, naming the field), and a checkpoint
// leaving a field out is accepted exactly when the importer's default for it
// gives the same model.

#include "dialects/InitAllDialects.h"
#include "io/CheckpointConfig.h"
#include "passes/model/ConfigImport.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

using namespace mlir;
using json = nlohmann::json;

namespace {

// Exit structures and defaults of every kind, one model each.
const char *const kConfigs[] = {
    R"({"vocab_size": 320, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 6,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": true,
        "early_exit": {"exit_layer_nums": [2, 4], "exit_layer_weight": [0.25, 0.5],
                       "exit_layer_weight_init": [0.0, 0.1], "exit_layer_weight_warmup_iters": 100,
                       "exit_layer_weight_warmup_style": "cosine",
                       "exit_layer_temperature": [1.5, 2.0], "use_exit_norm": true,
                       "use_exit_mlp": true}})",
    R"({"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "early_exit": {"exit_layer_nums": [1], "pre_exit": true, "use_exit_block": true,
                       "untie_exit_output_weights": true}})",
    R"({"vocab_size": 256, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "rms_norm_eps": 1e-6})",
};

class CheckpointConfigTest : public ::testing::Test {
protected:
  CheckpointConfigTest() : context(makeRegistry()) {
    handler = std::make_unique<ScopedDiagnosticHandler>(&context, [](Diagnostic &) {
      return success(); // refusals are expected; only their outcome matters
    });
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    ee::registerAllDialects(registry);
    return registry;
  }

  /// The config the importer makes of `text` as a binary's manifest holds it,
  /// or nothing when the importer refuses it.
  std::optional<json> compiled(const std::string &text) {
    FailureOr<ee::ConfigAttr> config = ee::parseModelConfig(text, "config.json", &context);
    if (failed(config))
      return std::nullopt;
    return json::parse(ee::exportModelConfig(*config));
  }

  /// The error of checkCheckpointConfig, or "" when it accepts.
  static std::string check(const json &compiled, const json &checkpoint) {
    try {
      ::eert::checkCheckpointConfigText(compiled, checkpoint.dump(), "ck/config.json");
      return "";
    } catch (const std::runtime_error &e) {
      return e.what();
    }
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
};

/// Visits every leaf field of `object` (lists are leaves) with its dotted name.
void forEachField(json &object, const std::string &prefix,
                  const std::function<void(const std::string &, json &)> &visit) {
  for (auto &[key, value] : object.items()) {
    if (value.is_object())
      forEachField(value, prefix + key + ".", visit);
    else
      visit(prefix + key, value);
  }
}

/// A value of the same kind that the model must not accept in place of `value`.
json changed(const json &value) {
  if (value.is_boolean())
    return !value.get<bool>();
  if (value.is_number_integer())
    return value.get<int64_t>() + 1;
  if (value.is_number())
    return value.get<double>() * 1.5 + 0.1;
  if (value.is_string())
    return value.get<std::string>() + "x";
  json list = value;
  list.back() = changed(list.back());
  return list;
}

TEST_F(CheckpointConfigTest, ExportedConfigIsAccepted) {
  for (const char *text : kConfigs) {
    std::optional<json> model = compiled(text);
    ASSERT_TRUE(model) << text;
    EXPECT_EQ(check(*model, *model), "");
    // The importer's input itself (defaults left out) describes the same model.
    EXPECT_EQ(check(*model, json::parse(text)), "") << text;
  }
}

TEST_F(CheckpointConfigTest, EveryExportedFieldIsCompared) {
  for (const char *text : kConfigs) {
    std::optional<json> model = compiled(text);
    ASSERT_TRUE(model);
    json fields = *model;
    forEachField(fields, "", [&](const std::string &name, json &value) {
      // Without effect on the numerics: the class name, and the storage dtype
      // (tensors are widened on load).
      if (name == "architectures" || name == "torch_dtype")
        return;
      json original = value;
      value = changed(original);
      std::string error = check(*model, fields);
      EXPECT_NE(error.find("ck/config.json: '" + name + "'"), std::string::npos)
          << name << " changed to " << value.dump() << " gave: '" << error << "'";
      value = original;
    });
  }
}

TEST_F(CheckpointConfigTest, FloatsMatchWithinFloat32RoundOff) {
  std::optional<json> model = compiled(kConfigs[0]);
  ASSERT_TRUE(model);
  json checkpoint = *model;
  checkpoint["rms_norm_eps"] = static_cast<double>(static_cast<float>(1e-5));
  checkpoint["early_exit"]["exit_layer_weight"] = {static_cast<double>(0.25f),
                                                   static_cast<double>(0.5f)};
  EXPECT_EQ(check(*model, checkpoint), "");
  checkpoint["rope_theta"] = 500000.0 * (1 + 1e-5);
  EXPECT_NE(check(*model, checkpoint).find("'rope_theta'"), std::string::npos);
}

TEST_F(CheckpointConfigTest, AbsentFieldsTakeTheImportersDefaults) {
  // A checkpoint without field F is accepted exactly when the importer, given
  // the same config without F, builds the same model.
  for (const char *text : kConfigs) {
    std::optional<json> model = compiled(text);
    ASSERT_TRUE(model);
    json full = *model;
    std::vector<std::pair<std::string, std::string>> fields; // (parent, key)
    for (auto &[key, value] : full.items()) {
      fields.push_back({"", key});
      if (value.is_object())
        for (auto &[inner, unused] : value.items())
          fields.push_back({key, inner});
    }
    for (const auto &[parent, key] : fields) {
      json without = full;
      (parent.empty() ? without : without[parent]).erase(key);
      std::optional<json> imported = compiled(without.dump());
      bool same = imported && imported->dump() == model->dump();
      std::string error = check(*model, without);
      std::string name = parent.empty() ? key : parent + "." + key;
      EXPECT_EQ(error.empty(), same) << "without '" << name << "': " << error;
    }
  }
}

TEST_F(CheckpointConfigTest, HostileValuesAreRefusedByName) {
  std::optional<json> model = compiled(kConfigs[0]);
  ASSERT_TRUE(model);
  for (auto [key, value] : {std::pair{"hidden_size", json("64")},
                            {"rope_theta", json::array()},
                            {"tie_word_embeddings", json(1)},
                            {"early_exit", json(3)},
                            {"rope_scaling", json({{"type", "linear"}})},
                            {"hidden_act", json("\xff\xfe")}}) {
    json checkpoint = *model;
    checkpoint[key] = value;
    std::string error;
    try {
      ::eert::checkCheckpointConfig(*model, checkpoint, "ck/config.json");
    } catch (const std::runtime_error &e) {
      error = e.what();
    }
    EXPECT_NE(error.find(std::string("'") + key), std::string::npos) << key << ": " << error;
  }
  EXPECT_THROW(::eert::checkCheckpointConfigText(*model, std::string(70000, '['), "ck/config.json"),
               std::runtime_error);
  EXPECT_THROW(::eert::checkCheckpointConfigText(*model, std::string("[1, 2]"), "ck/config.json"),
               std::runtime_error);
}

} // namespace
