// Robustness of the JSON config importer: every malformed config is rejected
// with a diagnostic naming the field, never a crash.

#include "dialects/InitAllDialects.h"
#include "ee/EEOps.h"
#include "passes/model/ConfigImport.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;
namespace json = llvm::json;

namespace {

// Shaped like EE-LLM's 1.3B model: 24 layers, hidden 2048, exits after 6 and 12.
constexpr const char *kBaseConfig = R"({
  "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5504,
  "num_hidden_layers": 24, "num_attention_heads": 32, "num_key_value_heads": 32,
  "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "tie_word_embeddings": true,
  "early_exit": {
    "exit_layer_nums": [6, 12], "pre_exit": false,
    "exit_layer_weight": [0.25, 0.5], "exit_layer_weight_init": [0.0, 0.0],
    "exit_layer_weight_warmup_iters": 0, "exit_layer_weight_warmup_style": "linear",
    "exit_layer_temperature": [1.0, 1.0],
    "use_exit_norm": true, "use_exit_mlp": false, "use_exit_block": false,
    "untie_exit_output_weights": false } })";

class ConfigImportTest : public ::testing::Test {
protected:
  ConfigImportTest() : context(makeRegistry()) {
    handler = std::make_unique<ScopedDiagnosticHandler>(&context, [this](Diagnostic &d) {
      if (d.getSeverity() == DiagnosticSeverity::Error)
        errors += d.str() + "\n";
      return success();
    });
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    ee::registerAllDialects(registry);
    return registry;
  }

  /// Imports `text`; on failure `errors` holds the diagnostics.
  OwningOpRef<ModuleOp> import(StringRef text) {
    errors.clear();
    return ee::importModelConfig(text, "config.json", &context);
  }

  static json::Object base() { return *llvm::cantFail(json::parse(kBaseConfig)).getAsObject(); }

  static std::string print(json::Object object) {
    return llvm::formatv("{0:2}", json::Value(std::move(object))).str();
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string errors;
};

template <typename OpT> int count(ModuleOp module) {
  int n = 0;
  module.walk([&](OpT) { ++n; });
  return n;
}

TEST_F(ConfigImportTest, ImportsEELLM13BShapedConfig) {
  OwningOpRef<ModuleOp> module = import(kBaseConfig);
  ASSERT_TRUE(module) << errors;
  EXPECT_EQ(count<ee::DecoderLayerOp>(*module), 24);
  EXPECT_EQ(count<ee::ExitOp>(*module), 2);
  EXPECT_EQ(count<ee::FinalHeadOp>(*module), 1);
  EXPECT_EQ(count<ee::ExitLossOp>(*module), 2);
  // 1 embedding + 24 * 9 layer weights + final norm + 2 exit norms (tied heads).
  EXPECT_EQ(count<ee::ParameterOp>(*module), 1 + 24 * 9 + 1 + 2);
}

// Each entry: a field (in `early_exit` when prefixed so), a bad value, the
// text the diagnostic must contain.
struct BadField {
  const char *field;
  const char *value;
  const char *expected;
};

const BadField kBadFields[] = {
    {"vocab_size", "0", "'vocab_size' must be positive"},
    {"hidden_size", "-64", "'hidden_size' must be positive"},
    {"hidden_size", "\"2048\"", "'hidden_size' must be an integer"},
    {"hidden_size", "2048.5", "'hidden_size' must be an integer"},
    {"intermediate_size", "null", "'intermediate_size' is required"},
    {"num_hidden_layers", "[24]", "'num_hidden_layers' must be an integer"},
    {"num_attention_heads", "30", "'num_attention_heads' (30) must divide 'hidden_size'"},
    {"num_key_value_heads", "5", "'num_key_value_heads' (5) must divide"},
    {"num_key_value_heads", "0", "'num_key_value_heads' must be positive"},
    {"max_position_embeddings", "0", "'max_position_embeddings' must be positive"},
    {"rms_norm_eps", "0", "'rms_norm_eps' must be a positive"},
    {"rms_norm_eps", "\"small\"", "'rms_norm_eps' must be a number"},
    {"rope_theta", "-1", "'rope_theta' must be a positive"},
    {"tie_word_embeddings", "1", "'tie_word_embeddings' must be true or false"},
    {"hidden_act", "\"gelu\"", "'hidden_act' must be \"silu\""},
    {"attention_bias", "true", "'attention_bias' must be false"},
    {"rope_scaling", "{\"type\": \"linear\"}", "'rope_scaling' is not supported"},
    {"head_dim", "128", "'head_dim' (128) must equal"},
    {"torch_dtype", "\"int8\"", "'torch_dtype' must be"},
    {"early_exit", "[6]", "'early_exit' must be an object"},
    {"early_exit.exit_layer_nums", "[0, 12]", "'early_exit.exit_layer_nums[0]' = 0 is out of range"},
    {"early_exit.exit_layer_nums", "[6, 25]", "'early_exit.exit_layer_nums[1]' = 25 is out of range"},
    {"early_exit.exit_layer_nums", "[12, 6]", "'early_exit.exit_layer_nums' must be strictly increasing"},
    {"early_exit.exit_layer_nums", "[6, 6]", "'early_exit.exit_layer_nums' lists layer 6 twice"},
    {"early_exit.exit_layer_nums", "6", "'early_exit.exit_layer_nums' must be a list"},
    {"early_exit.exit_layer_nums", "[6, \"12\"]", "'early_exit.exit_layer_nums[1]' must be an integer"},
    {"early_exit.exit_layer_weight", "[0.25]", "'early_exit.exit_layer_weight' has 1 entries"},
    {"early_exit.exit_layer_weight", "[0.25, -0.5]", "'early_exit.exit_layer_weight[1]' must be a non-negative"},
    {"early_exit.exit_layer_weight_init", "[0.0, 0.0, 0.0]", "'early_exit.exit_layer_weight_init' has 3 entries"},
    {"early_exit.exit_layer_weight_init", "[-1.0, 0.0]", "'early_exit.exit_layer_weight_init[0]' must be a non-negative"},
    {"early_exit.exit_layer_temperature", "[1.0]", "'early_exit.exit_layer_temperature' has 1 entries"},
    {"early_exit.exit_layer_temperature", "[1.0, 0.0]", "'early_exit.exit_layer_temperature[1]' must be a positive"},
    {"early_exit.exit_layer_weight_warmup_iters", "-3", "'early_exit.exit_layer_weight_warmup_iters' must be non-negative"},
    {"early_exit.exit_layer_weight_warmup_style", "\"exponential\"", "'early_exit.exit_layer_weight_warmup_style' must be \"linear\" or \"cosine\""},
    {"early_exit.use_exit_norm", "\"yes\"", "'early_exit.use_exit_norm' must be true or false"},
};

json::Value parseValue(const char *text) { return llvm::cantFail(json::parse(text)); }

void overwriteField(json::Object &config, StringRef field, json::Value value) {
  if (field.consume_front("early_exit."))
    (*config.getObject("early_exit"))[field] = std::move(value);
  else
    config[field] = std::move(value);
}

TEST_F(ConfigImportTest, RejectsEachBadFieldNamingIt) {
  for (const BadField &bad : kBadFields) {
    json::Object config = base();
    overwriteField(config, bad.field, parseValue(bad.value));
    OwningOpRef<ModuleOp> module = import(print(std::move(config)));
    EXPECT_FALSE(module) << bad.field << " = " << bad.value << " was accepted";
    EXPECT_NE(errors.find(bad.expected), std::string::npos)
        << bad.field << " = " << bad.value << "\n  expected: " << bad.expected
        << "\n  got: " << errors;
  }
}

TEST_F(ConfigImportTest, RejectsExclusiveExitStructures) {
  json::Object both = base();
  overwriteField(both, "early_exit.use_exit_mlp", true);
  overwriteField(both, "early_exit.use_exit_block", true);
  EXPECT_FALSE(import(print(std::move(both))));
  EXPECT_NE(errors.find("'use_exit_mlp' and 'use_exit_block' exclude each other"),
            std::string::npos)
      << errors;

  json::Object preMLP = base();
  overwriteField(preMLP, "early_exit.use_exit_mlp", true);
  overwriteField(preMLP, "early_exit.pre_exit", true);
  EXPECT_FALSE(import(print(std::move(preMLP))));
  EXPECT_NE(errors.find("'use_exit_mlp' needs post-exit placement"), std::string::npos)
      << errors;
}

TEST_F(ConfigImportTest, RejectsMissingRequiredFields) {
  for (const char *field : {"vocab_size", "hidden_size", "intermediate_size",
                            "num_hidden_layers", "num_attention_heads",
                            "early_exit.exit_layer_nums"}) {
    json::Object config = base();
    StringRef name(field);
    if (name.consume_front("early_exit."))
      config.getObject("early_exit")->erase(name);
    else
      config.erase(name);
    EXPECT_FALSE(import(print(std::move(config)))) << field;
    EXPECT_NE(errors.find(("missing required field '" + StringRef(field) + "'").str()),
              std::string::npos)
        << errors;
  }
}

// Every field, every wrong JSON kind: rejected with the field named, or (for
// values of the right kind) accepted; never a crash.
TEST_F(ConfigImportTest, EveryFieldWithEveryWrongKind) {
  const char *values[] = {"null", "\"text\"", "-1", "0", "1.5", "1e300", "[]",
                          "[1, 2]", "{}", "true", "false", "9223372036854775807"};
  json::Object reference = base();
  std::vector<std::string> fields;
  for (const auto &entry : reference)
    if (entry.first != "early_exit")
      fields.push_back(entry.first.str());
  for (const auto &entry : *reference.getObject("early_exit"))
    fields.push_back("early_exit." + entry.first.str());

  for (const std::string &field : fields) {
    for (const char *value : values) {
      json::Object config = base();
      overwriteField(config, field, parseValue(value));
      OwningOpRef<ModuleOp> module = import(print(std::move(config)));
      if (module)
        continue;
      StringRef leaf = StringRef(field).rsplit('.').second;
      if (leaf.empty())
        leaf = field;
      EXPECT_NE(errors.find(leaf.str()), std::string::npos)
          << field << " = " << value << ": the error does not name the field:\n"
          << errors;
    }
  }
}

TEST_F(ConfigImportTest, EveryTruncationIsMalformedJSON) {
  std::string text = kBaseConfig;
  for (size_t length = 0; length + 1 < text.size(); ++length) {
    std::string prefix = text.substr(0, length);
    if (StringRef(prefix).rtrim().empty()) {
      EXPECT_FALSE(import(prefix));
      continue;
    }
    EXPECT_FALSE(import(prefix)) << "prefix of length " << length << " accepted";
    EXPECT_NE(errors.find("malformed JSON"), std::string::npos) << errors;
  }
}

TEST_F(ConfigImportTest, RandomByteCorruptionNeverCrashes) {
  std::mt19937 random(1234);
  std::string text = kBaseConfig;
  int rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string corrupted = text;
    for (int flips = 0; flips < 3; ++flips)
      corrupted[random() % corrupted.size()] = static_cast<char>(random() % 128);
    OwningOpRef<ModuleOp> module = import(corrupted);
    if (!module) {
      ++rejected;
      EXPECT_FALSE(errors.empty()) << "rejected without a diagnostic";
    }
  }
  EXPECT_GT(rejected, 200);
}

TEST_F(ConfigImportTest, DuplicateKeysAreRejected) {
  EXPECT_FALSE(import(R"({"vocab_size": 256, "vocab_size": 512})"));
  EXPECT_NE(errors.find("malformed JSON"), std::string::npos) << errors;
}

TEST_F(ConfigImportTest, HuggingFaceDefaultsApply) {
  OwningOpRef<ModuleOp> module = import(R"({
    "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4,
    "early_exit": {"exit_layer_nums": [1]}})");
  ASSERT_TRUE(module) << errors;
  auto config = cast<ee::ConfigAttr>((*module)->getAttr("ee.config"));
  EXPECT_EQ(config.getNumKeyValueHeads(), 4);
  EXPECT_EQ(config.getMaxPositionEmbeddings(), 2048);
  EXPECT_DOUBLE_EQ(config.getRmsNormEps(), 1e-6);
  EXPECT_FALSE(config.getTieWordEmbeddings());
  ee::EarlyExitAttr exits = config.getEarlyExit();
  EXPECT_DOUBLE_EQ(exits.getExitLayerWeight()[0], 1.0);
  EXPECT_DOUBLE_EQ(exits.getExitLayerWeightInit()[0], 1.0);
  EXPECT_DOUBLE_EQ(exits.getExitLayerTemperature()[0], 1.0);
  EXPECT_EQ(exits.getExitLayerWeightWarmupStyle(), ee::WarmupStyle::Linear);
}

TEST(LossWeightSchedule, MatchesItsFormula) {
  MLIRContext context;
  context.loadDialect<ee::EEDialect>();
  auto linear = ee::LossWeightAttr::get(&context, 0.0, 0.5, 100, ee::WarmupStyle::Linear);
  EXPECT_DOUBLE_EQ(linear.valueAt(0), 0.0);
  EXPECT_DOUBLE_EQ(linear.valueAt(25), 0.125);
  EXPECT_DOUBLE_EQ(linear.valueAt(100), 0.5);
  EXPECT_DOUBLE_EQ(linear.valueAt(1000), 0.5);
  auto cosine = ee::LossWeightAttr::get(&context, 1.0, 0.0, 100, ee::WarmupStyle::Cosine);
  EXPECT_DOUBLE_EQ(cosine.valueAt(0), 1.0);
  EXPECT_NEAR(cosine.valueAt(50), 0.5, 1e-12);
  EXPECT_NEAR(cosine.valueAt(25), 0.5 * (1 + std::cos(M_PI / 4)), 1e-12);
  EXPECT_DOUBLE_EQ(cosine.valueAt(100), 0.0);
  EXPECT_FALSE(cosine.isConstant());
  EXPECT_TRUE(ee::LossWeightAttr::get(&context, 0.3, 0.3, 100, ee::WarmupStyle::Linear)
                  .isConstant());
}

} // namespace
