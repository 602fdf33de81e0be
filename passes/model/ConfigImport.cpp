//===- ConfigImport.cpp - JSON model config -> model-level ee module ------===//
//
// JSON is read with llvm::json (LLVM's own parser, already linked): it reports
// syntax errors with line and column and rejects duplicate keys.
//
//===----------------------------------------------------------------------===//

#include "passes/model/ConfigImport.h"
#include "ee/EEOps.h"
#include "runtime/io/JsonNesting.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cstdio>

using namespace mlir;
using namespace mlir::ee;
namespace json = llvm::json;

namespace {

/// The config text, for locating fields in diagnostics.
class ConfigSource {
public:
  ConfigSource(StringRef text, StringRef fileName, MLIRContext *context)
      : text(text), fileName(fileName), context(context) {}

  Location at(unsigned line, unsigned column) const {
    return FileLineColLoc::get(context, fileName, line, column);
  }

  /// The line and column of byte `offset`.
  Location atOffset(size_t offset) const {
    StringRef before = text.take_front(offset);
    size_t lineStart = before.rfind('\n');
    return at(1 + before.count('\n'),
              offset - (lineStart == StringRef::npos ? 0 : lineStart + 1) + 1);
  }

  /// The location of the first occurrence of `"key"` (good enough to point a
  /// person at the field: our field names are unique in a config).
  Location locate(StringRef key) const {
    size_t offset = text.find(("\"" + key + "\"").str());
    return offset == StringRef::npos ? at(1, 1) : atOffset(offset);
  }

  MLIRContext *getContext() const { return context; }

private:
  StringRef text;
  StringRef fileName;
  MLIRContext *context;
};

std::string describe(const json::Value &value) {
  switch (value.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Boolean:
    return *value.getAsBoolean() ? "true" : "false";
  case json::Value::Number: {
    std::string text;
    llvm::raw_string_ostream(text) << value;
    return "the number " + text;
  }
  case json::Value::String:
    return "the string \"" + value.getAsString()->str() + "\"";
  case json::Value::Array:
    return "an array";
  case json::Value::Object:
    return "an object";
  }
  llvm_unreachable("unknown JSON kind");
}

/// Typed access to one JSON object's fields; `path` prefixes field names in
/// diagnostics (`early_exit.`).
class FieldReader {
public:
  FieldReader(const json::Object &object, StringRef path, const ConfigSource &source)
      : object(object), path(path), source(source) {}

  /// A field that is absent or null.
  bool isAbsent(StringRef key) const {
    const json::Value *value = object.get(key);
    return !value || value->kind() == json::Value::Null;
  }

  /// The default of an absent optional field; failure (already reported) otherwise.
  template <typename R, typename D>
  R fallbackIfAbsent(StringRef key, const std::optional<D> &fallback) const {
    if (isAbsent(key) && fallback) {
      if constexpr (std::is_same_v<D, StringRef>)
        return fallback->str();
      else
        return *fallback;
    }
    return failure();
  }

  InFlightDiagnostic error(StringRef key) const {
    return emitError(source.locate(key)) << "'" << path << key << "' ";
  }

  FailureOr<int64_t> getInt(StringRef key, std::optional<int64_t> fallback = {}) {
    const json::Value *value = lookup(key, fallback.has_value());
    if (!value)
      return fallbackIfAbsent<FailureOr<int64_t>>(key, fallback);
    return toInt(*value, key, "");
  }

  FailureOr<double> getDouble(StringRef key, std::optional<double> fallback = {}) {
    const json::Value *value = lookup(key, fallback.has_value());
    if (!value)
      return fallbackIfAbsent<FailureOr<double>>(key, fallback);
    return toDouble(*value, key, "");
  }

  FailureOr<bool> getBool(StringRef key, std::optional<bool> fallback = {}) {
    const json::Value *value = lookup(key, fallback.has_value());
    if (!value)
      return fallbackIfAbsent<FailureOr<bool>>(key, fallback);
    if (std::optional<bool> b = value->getAsBoolean())
      return *b;
    return (error(key) << "must be true or false, got " << describe(*value));
  }

  FailureOr<std::string> getString(StringRef key, std::optional<StringRef> fallback = {}) {
    const json::Value *value = lookup(key, fallback.has_value());
    if (!value)
      return fallbackIfAbsent<FailureOr<std::string>>(key, fallback);
    if (std::optional<StringRef> s = value->getAsString())
      return s->str();
    return (error(key) << "must be a string, got " << describe(*value));
  }

  /// A list field; absent lists take `fallback`, when given.
  template <typename T>
  FailureOr<SmallVector<T>> getList(StringRef key,
                                    std::optional<SmallVector<T>> fallback = {}) {
    const json::Value *value = lookup(key, fallback.has_value());
    if (!value)
      return fallbackIfAbsent<FailureOr<SmallVector<T>>>(key, fallback);
    const json::Array *array = value->getAsArray();
    if (!array)
      return (error(key) << "must be a list with one entry per exit, got "
                                << describe(*value));
    SmallVector<T> result;
    for (auto [i, element] : llvm::enumerate(*array)) {
      std::string index = "[" + std::to_string(i) + "]";
      FailureOr<T> entry;
      if constexpr (std::is_same_v<T, F64>)
        entry = toDouble(element, key, index);
      else
        entry = toInt(element, key, index);
      if (failed(entry))
        return failure();
      result.push_back(*entry);
    }
    return result;
  }

  /// Warns about every field outside `known` (typos would otherwise be ignored).
  void warnUnknown(const llvm::StringSet<> &known) const {
    SmallVector<StringRef> unknown;
    for (const auto &entry : object)
      if (!known.contains(entry.first))
        unknown.push_back(entry.first);
    llvm::sort(unknown);
    for (StringRef key : unknown)
      emitWarning(source.locate(key)) << "ignoring unknown config field '" << path << key
                                      << "'";
  }

private:
  /// The field's value; null when it is absent or null (reported when required).
  const json::Value *lookup(StringRef key, bool optional) {
    const json::Value *value = object.get(key);
    if (value && value->kind() != json::Value::Null)
      return value;
    if (!optional) {
      if (value)
        error(key) << "is required but is null";
      else
        emitError(source.at(1, 1)) << "missing required field '" << path << key << "'";
    }
    return nullptr;
  }

  FailureOr<int64_t> toInt(const json::Value &value, StringRef key, StringRef index) {
    if (std::optional<int64_t> i = value.getAsInteger())
      return *i;
    auto diag = emitError(source.locate(key)) << "'" << path << key << index << "' ";
    if (value.kind() == json::Value::Number)
      diag << "must be an integer (within 64 bits), got " << describe(value);
    else
      diag << "must be an integer, got " << describe(value);
    return failure();
  }

  FailureOr<double> toDouble(const json::Value &value, StringRef key, StringRef index) {
    if (std::optional<double> d = value.getAsNumber())
      return *d;
    return (emitError(source.locate(key)) << "'" << path << key << index
                                                 << "' must be a number, got "
                                                 << describe(value));
  }

  const json::Object &object;
  std::string path;
  const ConfigSource &source;
};

/// Keys of Hugging Face Llama configs that the compiler reads, checks or may
/// safely ignore; anything else gets a warning.
const llvm::StringSet<> &knownTopLevelKeys() {
  static const llvm::StringSet<> keys = {
      // read
      "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
      "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
      "rms_norm_eps", "rope_theta", "tie_word_embeddings", "early_exit",
      // checked against what the compiler implements
      "hidden_act", "attention_bias", "mlp_bias", "rope_scaling", "head_dim",
      "torch_dtype",
      // without effect on the compiled model
      "_name_or_path", "architectures", "model_type", "transformers_version",
      "bos_token_id", "eos_token_id", "pad_token_id", "initializer_range", "use_cache",
      "attention_dropout", "pretraining_tp", "max_sequence_length", "tokenizer_class",
      "auto_map", "is_decoder", "output_attentions", "output_hidden_states",
      "return_dict", "use_return_dict"};
  return keys;
}

const llvm::StringSet<> &knownEarlyExitKeys() {
  static const llvm::StringSet<> keys = {
      "exit_layer_nums", "pre_exit", "exit_layer_weight", "exit_layer_weight_init",
      "exit_layer_weight_warmup_iters", "exit_layer_weight_warmup_style",
      "exit_layer_temperature", "use_exit_norm", "use_exit_mlp", "use_exit_block",
      "untie_exit_output_weights"};
  return keys;
}

/// Fields of Hugging Face configs that describe variants this compiler does not
/// implement: accepted only with the value that matches our model.
LogicalResult checkImplementedVariant(FieldReader &fields, int64_t hiddenSize,
                                      int64_t numHeads) {
  if (!fields.isAbsent("hidden_act")) {
    FailureOr<std::string> act = fields.getString("hidden_act");
    if (failed(act))
      return failure();
    if (*act != "silu")
      return fields.error("hidden_act")
             << "must be \"silu\" (the MLP is SwiGLU), got \"" << *act << "\"";
  }
  for (StringRef key : {"attention_bias", "mlp_bias"}) {
    FailureOr<bool> bias = fields.getBool(key, false);
    if (failed(bias))
      return failure();
    if (*bias)
      return fields.error(key) << "must be false: the model has no biases";
  }
  if (!fields.isAbsent("rope_scaling"))
    return fields.error("rope_scaling") << "is not supported: it must be null or absent";
  if (!fields.isAbsent("head_dim")) {
    FailureOr<int64_t> headDim = fields.getInt("head_dim");
    if (failed(headDim))
      return failure();
    if (numHeads > 0 && *headDim != hiddenSize / numHeads)
      return fields.error("head_dim") << "(" << *headDim
                                      << ") must equal 'hidden_size' / "
                                         "'num_attention_heads' ("
                                      << hiddenSize / numHeads << ")";
  }
  if (!fields.isAbsent("torch_dtype")) {
    FailureOr<std::string> dtype = fields.getString("torch_dtype");
    if (failed(dtype))
      return failure();
    if (*dtype != "float32" && *dtype != "float16" && *dtype != "bfloat16")
      return fields.error("torch_dtype")
             << "must be \"float32\", \"float16\" or \"bfloat16\", got \"" << *dtype
             << "\"";
  }
  return success();
}

FailureOr<EarlyExitAttr> parseEarlyExit(const json::Value &value, const ConfigSource &source) {
  MLIRContext *context = source.getContext();
  const json::Object *object = value.getAsObject();
  if (!object)
    return (emitError(source.locate("early_exit"))
                   << "'early_exit' must be an object, got " << describe(value));
  FieldReader fields(*object, "early_exit.", source);
  fields.warnUnknown(knownEarlyExitKeys());

  FailureOr<SmallVector<int64_t>> layers = fields.getList<int64_t>("exit_layer_nums");
  if (failed(layers))
    return failure();
  size_t numExits = layers->size();
  FailureOr<SmallVector<F64>> weights = fields.getList<F64>(
      "exit_layer_weight", SmallVector<F64>(numExits, 1.0));
  if (failed(weights))
    return failure();
  FailureOr<SmallVector<F64>> initWeights =
      fields.getList<F64>("exit_layer_weight_init", *weights);
  FailureOr<SmallVector<F64>> temperatures = fields.getList<F64>(
      "exit_layer_temperature", SmallVector<F64>(numExits, 1.0));
  FailureOr<int64_t> warmupIters = fields.getInt("exit_layer_weight_warmup_iters", 0);
  FailureOr<std::string> styleName =
      fields.getString("exit_layer_weight_warmup_style", StringRef("linear"));
  FailureOr<bool> preExit = fields.getBool("pre_exit", false);
  FailureOr<bool> useNorm = fields.getBool("use_exit_norm", false);
  FailureOr<bool> useMLP = fields.getBool("use_exit_mlp", false);
  FailureOr<bool> useBlock = fields.getBool("use_exit_block", false);
  FailureOr<bool> untie = fields.getBool("untie_exit_output_weights", false);
  if (failed(initWeights) || failed(temperatures) || failed(warmupIters) ||
      failed(styleName) || failed(preExit) || failed(useNorm) || failed(useMLP) ||
      failed(useBlock) || failed(untie))
    return failure();
  std::optional<WarmupStyle> style = symbolizeWarmupStyle(*styleName);
  if (!style)
    return (fields.error("exit_layer_weight_warmup_style")
                   << "must be \"linear\" or \"cosine\", got \"" << *styleName << "\"");

  Location loc = source.locate("early_exit");
  EarlyExitAttr attr = EarlyExitAttr::getChecked(
      [&] { return emitError(loc); }, context, ArrayRef<int64_t>(*layers), *preExit,
      ArrayRef<F64>(*weights), ArrayRef<F64>(*initWeights), *warmupIters, *style,
      ArrayRef<F64>(*temperatures), *useNorm, *useMLP, *useBlock, *untie);
  if (!attr)
    return failure();
  return attr;
}

/// The offset of the first key repeated within one JSON object, if any.
/// llvm::json keeps one of the values silently; a config with a repeated key
/// is ambiguous, so it is rejected. `text` is already known to be valid JSON.
std::optional<std::pair<size_t, std::string>> findDuplicateKey(StringRef text) {
  // One set of keys per open object; arrays push an empty marker.
  SmallVector<std::optional<llvm::StringSet<>>> scopes;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{') {
      scopes.emplace_back(llvm::StringSet<>());
    } else if (c == '[') {
      scopes.emplace_back(std::nullopt);
    } else if (c == '}' || c == ']') {
      scopes.pop_back();
    } else if (c == '"') {
      size_t start = i++;
      while (text[i] != '"')
        i += text[i] == '\\' ? 2 : 1;
      size_t next = text.find_first_not_of(" \t\r\n", i + 1);
      bool isKey = next != StringRef::npos && text[next] == ':';
      if (isKey && scopes.back() &&
          !scopes.back()->insert(text.slice(start + 1, i)).second)
        return std::make_pair(start, text.slice(start + 1, i).str());
    }
  }
  return std::nullopt;
}

/// Largest model dimension accepted: sizes are indexed with 32-bit integers in
/// places (token ids, kernels), and products of two stay within 64 bits.
constexpr int64_t kMaxDimension = (int64_t(1) << 31) - 1;

/// Real configs are a few kilobytes; this leaves room for long comments.
constexpr size_t kMaxConfigBytes = size_t(16) << 20;

} // namespace

FailureOr<ConfigAttr> mlir::ee::parseModelConfig(StringRef text, StringRef fileName,
                                                 MLIRContext *context, std::string *torchDtype) {
  context->loadDialect<EEDialect>();
  ConfigSource source(text, fileName, context);
  // llvm::json recurses once per nesting level: bound the depth before it parses.
  if (text.size() > kMaxConfigBytes)
    return emitError(source.at(1, 1)) << "a model config is at most " << (kMaxConfigBytes >> 20)
                                      << " MiB of JSON, this one is " << text.size() << " bytes";
  if (size_t at = eert::jsonNestingViolation(std::string_view(text.data(), text.size()));
      at != std::string_view::npos) {
    return emitError(source.atOffset(at))
           << "malformed JSON: arrays and objects nested deeper than " << eert::kMaxJsonDepth
           << " levels";
  }
  llvm::Expected<json::Value> parsed = json::parse(text);
  if (!parsed) {
    std::string message = llvm::toString(parsed.takeError());
    unsigned line = 1, column = 1, offset = 0;
    // llvm::json reports "[line:column, byte=offset]: message".
    int consumed = 0;
    if (std::sscanf(message.c_str(), "[%u:%u, byte=%u]: %n", &line, &column, &offset,
                    &consumed) == 3 &&
        consumed > 0)
      message = message.substr(consumed);
    return (emitError(source.at(line, column)) << "malformed JSON: " << message);
  }
  if (auto duplicate = findDuplicateKey(text)) {
    return emitError(source.atOffset(duplicate->first))
           << "malformed JSON: duplicate key '" << duplicate->second << "'";
  }
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return (emitError(source.at(1, 1))
                   << "a model config must be a JSON object, got " << describe(*parsed));

  FieldReader fields(*root, "", source);
  fields.warnUnknown(knownTopLevelKeys());
  FailureOr<int64_t> vocab = fields.getInt("vocab_size");
  FailureOr<int64_t> hidden = fields.getInt("hidden_size");
  FailureOr<int64_t> intermediate = fields.getInt("intermediate_size");
  FailureOr<int64_t> layers = fields.getInt("num_hidden_layers");
  FailureOr<int64_t> heads = fields.getInt("num_attention_heads");
  if (failed(vocab) || failed(hidden) || failed(intermediate) || failed(layers) ||
      failed(heads))
    return failure();
  FailureOr<int64_t> kvHeads = fields.getInt("num_key_value_heads", *heads);
  FailureOr<int64_t> maxPositions = fields.getInt("max_position_embeddings", 2048);
  FailureOr<double> eps = fields.getDouble("rms_norm_eps", 1e-6);
  FailureOr<double> theta = fields.getDouble("rope_theta", 10000.0);
  FailureOr<bool> tie = fields.getBool("tie_word_embeddings", false);
  if (failed(kvHeads) || failed(maxPositions) || failed(eps) || failed(theta) ||
      failed(tie) || failed(checkImplementedVariant(fields, *hidden, *heads)))
    return failure();
  for (auto [key, value] : {std::pair{"vocab_size", *vocab}, {"hidden_size", *hidden},
                            {"intermediate_size", *intermediate},
                            {"num_hidden_layers", *layers},
                            {"num_attention_heads", *heads},
                            {"num_key_value_heads", *kvHeads},
                            {"max_position_embeddings", *maxPositions}})
    if (value > kMaxDimension)
      return (fields.error(key) << "(" << value << ") is larger than the supported "
                                       << kMaxDimension);

  EarlyExitAttr earlyExit;
  if (!fields.isAbsent("early_exit")) {
    FailureOr<EarlyExitAttr> parsedExit = parseEarlyExit(*root->get("early_exit"), source);
    if (failed(parsedExit))
      return failure();
    earlyExit = *parsedExit;
  }
  ConfigAttr config = ConfigAttr::getChecked(
      [&] { return emitError(source.at(1, 1)); }, context, *vocab, *hidden, *intermediate,
      *layers, *heads, *kvHeads, *maxPositions, F64(*eps), F64(*theta), *tie, earlyExit);
  if (!config)
    return failure();
  // Checked above to be one of the known dtype strings where present.
  if (torchDtype)
    *torchDtype = root->getString("torch_dtype").value_or("").str();
  return config;
}

//===----------------------------------------------------------------------===//
// Module construction
//===----------------------------------------------------------------------===//

namespace {

class ModelBuilder {
public:
  ModelBuilder(ConfigAttr config, ModuleOp module)
      : config(config), context(config.getContext()), builder(module.getBodyRegion()),
        module(module) {
    builder.setInsertionPointToEnd(module.getBody());
  }

  void build() {
    declareParameters();
    func::FuncOp forward = buildForward();
    buildLoss(forward);
  }

private:
  Location nameLoc(StringRef name) { return NameLoc::get(StringAttr::get(context, name)); }

  std::string layerPrefix(int64_t layer) {
    return "model.layers." + std::to_string(layer);
  }
  std::string exitPrefix(int64_t exit) { return "exits." + std::to_string(exit); }

  void declare(StringRef name, ArrayRef<int64_t> shape) {
    ParameterOp::create(builder, nameLoc(name), name,
                        RankedTensorType::get(shape, builder.getF32Type()));
  }

  void declareBlock(StringRef prefix) {
    int64_t hidden = config.getHiddenSize();
    int64_t kv = config.getNumKeyValueHeads() * config.getHeadDim();
    auto name = [&](StringRef suffix) { return (prefix + "." + suffix).str(); };
    declare(name("input_layernorm.weight"), {hidden});
    declare(name("self_attn.q_proj.weight"), {hidden, hidden});
    declare(name("self_attn.k_proj.weight"), {kv, hidden});
    declare(name("self_attn.v_proj.weight"), {kv, hidden});
    declare(name("self_attn.o_proj.weight"), {hidden, hidden});
    declare(name("post_attention_layernorm.weight"), {hidden});
    declareMLP(name("mlp"));
  }

  void declareMLP(StringRef prefix) {
    int64_t hidden = config.getHiddenSize(), ffn = config.getIntermediateSize();
    declare((prefix + ".gate_proj.weight").str(), {ffn, hidden});
    declare((prefix + ".up_proj.weight").str(), {ffn, hidden});
    declare((prefix + ".down_proj.weight").str(), {hidden, ffn});
  }

  /// In checkpoint order: embedding, layers, final norm and head, then exits.
  void declareParameters() {
    int64_t vocab = config.getVocabSize(), hidden = config.getHiddenSize();
    declare("model.embed_tokens.weight", {vocab, hidden});
    for (int64_t layer = 0; layer < config.getNumHiddenLayers(); ++layer)
      declareBlock(layerPrefix(layer));
    declare("model.norm.weight", {hidden});
    if (!config.getTieWordEmbeddings())
      declare("lm_head.weight", {vocab, hidden});
    EarlyExitAttr exits = config.getEarlyExit();
    for (int64_t exit = 0; exit < config.getNumExits(); ++exit) {
      std::string prefix = exitPrefix(exit);
      if (exits.getUseExitNorm())
        declare(prefix + ".norm.weight", {hidden});
      if (exits.getUseExitMlp())
        declareMLP(prefix + ".mlp");
      if (exits.getUseExitBlock())
        declareBlock(prefix + ".block");
      if (exits.getUntieExitOutputWeights())
        declare(prefix + ".lm_head.weight", {vocab, hidden});
    }
  }

  RankedTensorType activationType(int64_t features) {
    return RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic, features},
                                 builder.getF32Type());
  }
  RankedTensorType tokenType() {
    return RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                                 builder.getI32Type());
  }

  Value buildExit(int64_t exit, Value input, Value positions) {
    EarlyExitAttr exits = config.getEarlyExit();
    int64_t layer = exits.getExitLayerNums()[exit];
    std::string output = exits.getUntieExitOutputWeights()
                             ? exitPrefix(exit) + ".lm_head.weight"
                             : std::string("model.embed_tokens.weight");
    ExitBranch branch = exits.getBranch();
    return ExitOp::create(
        builder, nameLoc(exitPrefix(exit)), activationType(config.getVocabSize()), input,
        branch == ExitBranch::Block ? positions : Value(), exit, layer,
        exits.getPreExit(), branch, exits.getUseExitNorm(), output,
        llvm::APFloat(exits.getExitLayerTemperature()[exit]), exits.getLossWeight(exit),
        config.getLayer());
  }

  func::FuncOp buildForward() {
    int64_t numExits = config.getNumExits(), vocab = config.getVocabSize();
    SmallVector<Type> results(numExits + 1, activationType(vocab));
    auto func = func::FuncOp::create(builder, nameLoc("forward"), "forward",
                                     builder.getFunctionType({tokenType(), tokenType()},
                                                             results));
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(func.addEntryBlock());
    Value ids = func.getArgument(0), positions = func.getArgument(1);

    Value x = EmbeddingOp::create(builder, nameLoc("model.embed_tokens"),
                                  activationType(config.getHiddenSize()), ids,
                                  "model.embed_tokens.weight");
    EarlyExitAttr exits = config.getEarlyExit();
    SmallVector<Value> outputs(numExits);
    for (int64_t layer = 0; layer < config.getNumHiddenLayers(); ++layer) {
      // Exits at 1-based layer n read layer n-1's input (pre-exit) or output.
      for (int64_t exit = 0; exit < numExits; ++exit)
        if (exits.getPreExit() && exits.getExitLayerNums()[exit] == layer + 1)
          outputs[exit] = buildExit(exit, x, positions);
      auto decoder = DecoderLayerOp::create(builder, nameLoc(layerPrefix(layer)), x,
                                            positions, layerPrefix(layer),
                                            config.getLayer());
      x = decoder.getOutput();
      for (int64_t exit = 0; exit < numExits; ++exit)
        if (!exits.getPreExit() && exits.getExitLayerNums()[exit] == layer + 1)
          outputs[exit] = buildExit(
              exit, exits.getUseExitMlp() ? decoder.getResidual() : decoder.getOutput(),
              positions);
    }
    StringRef head = config.getTieWordEmbeddings() ? "model.embed_tokens.weight"
                                                   : "lm_head.weight";
    outputs.push_back(FinalHeadOp::create(builder, nameLoc("model.norm"),
                                          activationType(vocab), x, "model.norm.weight",
                                          head, llvm::APFloat(config.getRmsNormEps())));
    func::ReturnOp::create(builder, nameLoc("forward"), outputs);
    return func;
  }

  void buildLoss(func::FuncOp forward) {
    Location loc = nameLoc("loss");
    auto func = func::FuncOp::create(
        builder, loc, "loss",
        builder.getFunctionType({tokenType(), tokenType(), tokenType(),
                                 builder.getI64Type()},
                                SmallVector<Type>(config.getNumExits() + 2,
                                                  builder.getF32Type())));
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(func.addEntryBlock());
    Value labels = func.getArgument(2), iteration = func.getArgument(3);
    auto logits = func::CallOp::create(builder, loc, forward,
                                       ValueRange{func.getArgument(0), func.getArgument(1)});
    // L = L_final + sum_k w_k(t) L_k.
    Value finalLoss = CrossEntropyOp::create(builder, loc, builder.getF32Type(),
                                             logits.getResults().back(), labels,
                                             llvm::APFloat(1.0));
    Value total = finalLoss;
    EarlyExitAttr exits = config.getEarlyExit();
    for (int64_t exit = 0; exit < config.getNumExits(); ++exit) {
      Value term = ExitLossOp::create(builder, nameLoc(exitPrefix(exit)),
                                      builder.getF32Type(), logits.getResult(exit), labels,
                                      iteration,
                                      llvm::APFloat(exits.getExitLayerTemperature()[exit]),
                                      exits.getLossWeight(exit));
      total = arith::AddFOp::create(builder, loc, total, term);
    }
    // For progress reports: each head's plain cross-entropy (temperature 1,
    // unweighted), the final head's first.
    SmallVector<Value> results{total, finalLoss};
    for (int64_t exit = 0; exit < config.getNumExits(); ++exit)
      results.push_back(CrossEntropyOp::create(builder, nameLoc(exitPrefix(exit)),
                                               builder.getF32Type(), logits.getResult(exit),
                                               labels, llvm::APFloat(1.0)));
    func::ReturnOp::create(builder, loc, results);
  }

  ConfigAttr config;
  MLIRContext *context;
  OpBuilder builder;
  ModuleOp module;
};

} // namespace

OwningOpRef<ModuleOp> mlir::ee::buildModelModule(ConfigAttr config, Location loc) {
  MLIRContext *context = config.getContext();
  context->loadDialect<EEDialect, func::FuncDialect, arith::ArithDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  (*module)->setAttr(EEDialect::getConfigAttrName(), config);
  ModelBuilder(config, *module).build();
  return module;
}

std::string mlir::ee::exportModelConfig(ConfigAttr config) {
  auto list = [](auto values) {
    json::Array array;
    for (auto value : values)
      array.push_back(static_cast<std::conditional_t<
                          std::is_same_v<decltype(value), F64>, double, int64_t>>(value));
    return array;
  };
  json::Object object{
      {"architectures", json::Array{"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_act", "silu"},
      {"vocab_size", config.getVocabSize()},
      {"hidden_size", config.getHiddenSize()},
      {"intermediate_size", config.getIntermediateSize()},
      {"num_hidden_layers", config.getNumHiddenLayers()},
      {"num_attention_heads", config.getNumAttentionHeads()},
      {"num_key_value_heads", config.getNumKeyValueHeads()},
      {"max_position_embeddings", config.getMaxPositionEmbeddings()},
      {"rms_norm_eps", static_cast<double>(config.getRmsNormEps())},
      {"rope_theta", static_cast<double>(config.getRopeTheta())},
      {"tie_word_embeddings", config.getTieWordEmbeddings()},
      {"torch_dtype", "float32"}};
  if (EarlyExitAttr exits = config.getEarlyExit())
    object["early_exit"] = json::Object{
        {"exit_layer_nums", list(exits.getExitLayerNums())},
        {"pre_exit", exits.getPreExit()},
        {"exit_layer_weight", list(exits.getExitLayerWeight())},
        {"exit_layer_weight_init", list(exits.getExitLayerWeightInit())},
        {"exit_layer_weight_warmup_iters", exits.getExitLayerWeightWarmupIters()},
        {"exit_layer_weight_warmup_style",
         stringifyWarmupStyle(exits.getExitLayerWeightWarmupStyle())},
        {"exit_layer_temperature", list(exits.getExitLayerTemperature())},
        {"use_exit_norm", exits.getUseExitNorm()},
        {"use_exit_mlp", exits.getUseExitMlp()},
        {"use_exit_block", exits.getUseExitBlock()},
        {"untie_exit_output_weights", exits.getUntieExitOutputWeights()}};
  return llvm::formatv("{0:2}", json::Value(std::move(object))).str();
}

OwningOpRef<ModuleOp> mlir::ee::importModelConfig(StringRef text, StringRef fileName,
                                                  MLIRContext *context) {
  std::string torchDtype;
  FailureOr<ConfigAttr> config = parseModelConfig(text, fileName, context, &torchDtype);
  if (failed(config))
    return nullptr;
  OwningOpRef<ModuleOp> module =
      buildModelModule(*config, FileLineColLoc::get(context, fileName, 1, 1));
  if (!torchDtype.empty())
    (*module)->setAttr(EEDialect::getTorchDtypeAttrName(), StringAttr::get(context, torchDtype));
  if (failed(verify(*module)))
    return nullptr;
  return module;
}
