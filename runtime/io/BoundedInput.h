// BoundedInput.h - reading untrusted files and JSON with bounded size and depth.
//
// Every reader of bytes from outside the binary (checkpoints, configs, trainer
// state, datasets, tokenizers, requests) goes through these, so that a FIFO
// never blocks, /dev/zero never fills memory and deep nesting never recurses:
// each error names the file (or source), what was wrong and the limit.
#ifndef EERT_IO_BOUNDEDINPUT_H
#define EERT_IO_BOUNDEDINPUT_H

#include "io/JsonNesting.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace eert {

/// Limits of the small JSON files of a checkpoint (config.json, trainer_state.json,
/// model.safetensors.index.json) and of a safetensors header.
constexpr uint64_t kMaxJsonFileBytes = 64ull << 20;

/// Opens `path` for reading without blocking on a FIFO or device, and checks it
/// is a regular file of at most `maxBytes`. Returns the descriptor (the caller
/// closes it) and sets `size`. Throws std::runtime_error naming the file.
int openRegularFile(const std::string &path, uint64_t maxBytes, uint64_t &size);

/// The whole of the regular file `path`, at most `maxBytes` long.
std::string readRegularFile(const std::string &path, uint64_t maxBytes);

/// Parses `text` as JSON, refusing nesting deeper than `maxDepth` before any
/// recursive code runs. Errors name `source` (a file or "the request body").
nlohmann::json parseBoundedJson(std::string_view text, const std::string &source,
                                size_t maxDepth = kMaxJsonDepth);

/// readRegularFile + parseBoundedJson.
nlohmann::json readJsonFile(const std::string &path, uint64_t maxBytes = kMaxJsonFileBytes,
                            size_t maxDepth = kMaxJsonDepth);

} // namespace eert

#endif // EERT_IO_BOUNDEDINPUT_H
