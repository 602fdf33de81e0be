// CheckpointConfig.cpp - checks a checkpoint's config.json against the compiled model.
//
// The binary's numerics are fixed at compile time, so a checkpoint saved for
// another model (a different rope_theta, epsilon, exit structure, ...) would
// load and compute something else without a word. Every field the importer
// (passes/model/ConfigImport.cpp) reads or restricts is compared here, with
// the importer's defaults for the fields a checkpoint leaves out.
#include "io/CheckpointConfig.h"
#include "io/BoundedInput.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

using json = nlohmann::json;

namespace eert {
namespace {

/// Float fields travel through float32 (the attributes, the kernels) and
/// through decimal text, so equal values may differ by a few float32 ulps.
constexpr double kRelativeTolerance = 1e-6;

/// A value for an error message: never throws (invalid UTF-8 is replaced), and
/// a hostile megabyte-long string stays one line.
std::string show(const json &value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 80)
    text = text.substr(0, 77) + "...";
  return text;
}

bool closeEnough(double a, double b) {
  // Written so that NaN on either side compares unequal.
  return std::fabs(a - b) <= kRelativeTolerance * std::max(std::fabs(a), std::fabs(b));
}

/// One JSON object of the checkpoint's config compared with the compiled one;
/// `prefix` ("early_exit.") names nested fields.
class FieldComparer {
public:
  FieldComparer(const json &compiled, const json &found, std::string prefix,
                const std::string &source)
      : compiled_(compiled), found_(found), prefix_(std::move(prefix)), source_(source) {}

  /// The checkpoint's value of `key`, or null when absent or null (which the
  /// importer treats alike).
  const json *found(const char *key) const {
    auto it = found_.find(key);
    return it == found_.end() || it->is_null() ? nullptr : &*it;
  }

  [[noreturn]] void fail(const char *key, const std::string &message) const {
    throw std::runtime_error(source_ + ": '" + prefix_ + key + "' " + message);
  }

  [[noreturn]] void mismatch(const char *key, const json *actual, const json &fallback,
                             const json &expected) const {
    std::string what = actual ? show(*actual) : "absent (so " + show(fallback) + ")";
    fail(key, "is " + what + " but the binary was compiled for " + show(expected));
  }

  /// The compiled value of `key`, or `fallback` for a manifest without it.
  json compiled(const char *key, const json &fallback) const {
    auto it = compiled_.find(key);
    return it == compiled_.end() || it->is_null() ? fallback : *it;
  }

  int64_t asInt(const char *key, const json &value, const std::string &index = "") const {
    if (value.is_number_integer())
      return value.get<int64_t>();
    if (value.is_number_float()) {
      double d = value.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18)
        return static_cast<int64_t>(d);
    }
    fail((std::string(key) + index).c_str(), "must be an integer, got " + show(value));
  }

  double asNumber(const char *key, const json &value, const std::string &index = "") const {
    if (!value.is_number())
      fail((std::string(key) + index).c_str(), "must be a number, got " + show(value));
    return value.get<double>();
  }

  void integer(const char *key, const json &fallback, const json &compiledFallback) const {
    const json *actual = found(key);
    if (!actual && fallback.is_null())
      fail(key, "is missing but the binary was compiled for " +
                    show(compiled(key, compiledFallback)));
    json expected = compiled(key, compiledFallback);
    int64_t value = asInt(key, actual ? *actual : fallback);
    if (!expected.is_number_integer() || value != expected.get<int64_t>())
      mismatch(key, actual, fallback, expected);
  }

  void number(const char *key, double fallback, double compiledFallback) const {
    const json *actual = found(key);
    json expected = compiled(key, compiledFallback);
    double value = actual ? asNumber(key, *actual) : fallback;
    if (!expected.is_number() || !closeEnough(value, expected.get<double>()))
      mismatch(key, actual, fallback, expected);
  }

  void boolean(const char *key, bool fallback, bool compiledFallback) const {
    const json *actual = found(key);
    if (actual && !actual->is_boolean())
      fail(key, "must be true or false, got " + show(*actual));
    json expected = compiled(key, compiledFallback);
    bool value = actual ? actual->get<bool>() : fallback;
    if (!expected.is_boolean() || value != expected.get<bool>())
      mismatch(key, actual, fallback, expected);
  }

  void string(const char *key, const std::string &fallback,
              const std::string &compiledFallback) const {
    const json *actual = found(key);
    if (actual && !actual->is_string())
      fail(key, "must be a string, got " + show(*actual));
    json expected = compiled(key, compiledFallback);
    std::string value = actual ? actual->get<std::string>() : fallback;
    if (!expected.is_string() || value != expected.get<std::string>())
      mismatch(key, actual, fallback, expected);
  }

  /// A list of numbers (`integers`: of integers) with one entry per exit.
  void list(const char *key, const json &fallback, bool integers) const {
    const json *actual = found(key);
    if (!actual && fallback.is_null())
      fail(key, "is missing but the binary was compiled for " + show(compiled(key, json())));
    const json &value = actual ? *actual : fallback;
    if (!value.is_array())
      fail(key, "must be a list, got " + show(value));
    json expected = compiled(key, json::array());
    bool equal = expected.is_array() && expected.size() == value.size();
    for (size_t i = 0; i < value.size(); ++i) {
      std::string index = "[" + std::to_string(i) + "]";
      if (integers) {
        int64_t v = asInt(key, value[i], index);
        equal = equal && expected[i].is_number_integer() && expected[i].get<int64_t>() == v;
      } else {
        double v = asNumber(key, value[i], index);
        equal = equal && expected[i].is_number() && closeEnough(v, expected[i].get<double>());
      }
    }
    if (!equal)
      mismatch(key, actual, fallback, expected);
  }

private:
  const json &compiled_;
  const json &found_;
  std::string prefix_;
  const std::string &source_;
};

void checkEarlyExit(const json &compiled, const json &found, const std::string &source) {
  const json *compiledBlock = compiled.contains("early_exit") && compiled["early_exit"].is_object()
                                  ? &compiled["early_exit"]
                                  : nullptr;
  auto foundIt = found.find("early_exit");
  const json *foundBlock =
      foundIt == found.end() || foundIt->is_null() ? nullptr : &*foundIt;
  if (foundBlock && !foundBlock->is_object())
    throw std::runtime_error(source + ": 'early_exit' must be an object, got " + show(*foundBlock));
  static const json kEmpty = json::object();
  static const json kNoExits = {{"exit_layer_nums", json::array()}};
  const json &compiledExits = compiledBlock ? *compiledBlock : kNoExits;
  const json &foundExits = foundBlock ? *foundBlock : kEmpty;
  FieldComparer fields(compiledExits, foundExits, "early_exit.", source);
  // A checkpoint without the block is a plain Llama: no exits.
  fields.list("exit_layer_nums", foundBlock ? json() : json::array(), /*integers=*/true);
  if (!compiledBlock)
    return; // no exits on either side: the other fields mean nothing
  size_t exits = compiledExits["exit_layer_nums"].size();
  const json *weights = fields.found("exit_layer_weight");
  fields.list("exit_layer_weight", json(std::vector<double>(exits, 1.0)), false);
  fields.list("exit_layer_weight_init", weights ? *weights : json(std::vector<double>(exits, 1.0)),
              false);
  fields.list("exit_layer_temperature", json(std::vector<double>(exits, 1.0)), false);
  fields.integer("exit_layer_weight_warmup_iters", 0, 0);
  fields.string("exit_layer_weight_warmup_style", "linear", "linear");
  for (const char *key :
       {"pre_exit", "use_exit_norm", "use_exit_mlp", "use_exit_block", "untie_exit_output_weights"})
    fields.boolean(key, false, false);
}

} // namespace

void checkCheckpointConfig(const json &compiled, const json &found, const std::string &source) {
  if (!found.is_object())
    throw std::runtime_error(source + ": not a JSON object");
  FieldComparer fields(compiled, found, "", source);
  for (const char *key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads"})
    fields.integer(key, json(), json());
  const json *heads = fields.found("num_attention_heads");
  fields.integer("num_key_value_heads", *heads, compiled.value("num_attention_heads", json()));
  fields.integer("max_position_embeddings", 2048, 2048);
  fields.number("rms_norm_eps", 1e-6, 1e-6);
  fields.number("rope_theta", 10000.0, 10000.0);
  fields.boolean("tie_word_embeddings", false, false);
  fields.string("hidden_act", "silu", "silu");
  fields.string("model_type", "llama", "llama");
  // The compiler implements no biases, no rope scaling and head_dim =
  // hidden_size / num_attention_heads; its manifest need not spell them out.
  fields.boolean("attention_bias", false, false);
  fields.boolean("mlp_bias", false, false);
  if (const json *scaling = fields.found("rope_scaling"))
    fields.fail("rope_scaling", "is " + show(*scaling) + " but the binary implements no rope scaling");
  int64_t hidden = compiled.value("hidden_size", int64_t(0));
  int64_t numHeads = compiled.value("num_attention_heads", int64_t(1));
  int64_t headDim = numHeads > 0 ? hidden / numHeads : 0;
  fields.integer("head_dim", headDim, headDim);
  // torch_dtype says how the tensors are stored; they are converted to the
  // binary's precision on load (each tensor's own dtype is what is read), so
  // only the importer's set of values is enforced.
  if (const json *dtype = fields.found("torch_dtype")) {
    if (!dtype->is_string() || (*dtype != "float32" && *dtype != "float16" && *dtype != "bfloat16"))
      fields.fail("torch_dtype", "must be \"float32\", \"float16\" or \"bfloat16\", got " + show(*dtype));
  }
  checkEarlyExit(compiled, found, source);
}

void checkCheckpointConfigText(const json &compiled, std::string_view text,
                               const std::string &source) {
  checkCheckpointConfig(compiled, parseBoundedJson(text, source), source);
}

} // namespace eert
