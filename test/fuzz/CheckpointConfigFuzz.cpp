// CheckpointConfigFuzz.cpp - fuzzes checkCheckpointConfigText: arbitrary config.json bytes against a fixed compiled model.
//
// The compiled config is the manifest config of test/e2e/Inputs/norm-exits.json
// (what `BIN init` writes as config.json), so the seed corpus starts at inputs
// that pass and the fuzzer mutates them field by field. Every refusal must be
// a std::runtime_error naming the input; nothing else may escape.
#include "io/CheckpointConfig.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {
const nlohmann::json &compiledConfig() {
  static const nlohmann::json config = nlohmann::json::parse(R"({
  "architectures": ["LlamaForCausalLM"],
  "early_exit": {
    "exit_layer_nums": [1, 3], "exit_layer_temperature": [1, 1],
    "exit_layer_weight": [0.3, 0.6], "exit_layer_weight_init": [0.3, 0.6],
    "exit_layer_weight_warmup_iters": 0, "exit_layer_weight_warmup_style": "linear",
    "pre_exit": false, "untie_exit_output_weights": false, "use_exit_block": false,
    "use_exit_mlp": false, "use_exit_norm": true},
  "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 160,
  "max_position_embeddings": 128, "model_type": "llama", "num_attention_heads": 4,
  "num_hidden_layers": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-05,
  "rope_theta": 10000, "tie_word_embeddings": true, "torch_dtype": "float32",
  "vocab_size": 256})");
  return config;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  try {
    eert::checkCheckpointConfigText(compiledConfig(), text, "input");
  } catch (const std::runtime_error &e) {
    if (std::string_view(e.what()).rfind("input: ", 0) != 0)
      __builtin_trap();
  }
  return 0;
}
