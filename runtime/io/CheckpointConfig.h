// CheckpointConfig.h - checks a checkpoint's config.json against the compiled model.
#ifndef EERT_IO_CHECKPOINTCONFIG_H
#define EERT_IO_CHECKPOINTCONFIG_H

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace eert {

/// Throws std::runtime_error unless the checkpoint config `text` (read from
/// `source`) describes the model compiled with `compiled` (the manifest's
/// config, as ee-compile exported it). Every field that changes what the
/// binary computes is compared, the checkpoint's absent fields taking the
/// importer's defaults (docs/config.md), floats within float32 round-off; the
/// error names `source`, the field and both values. The text is parsed with
/// bounded depth (parseBoundedJson).
void checkCheckpointConfigText(const nlohmann::json &compiled, std::string_view text,
                               const std::string &source);

/// The same on a parsed config.
void checkCheckpointConfig(const nlohmann::json &compiled, const nlohmann::json &found,
                           const std::string &source);

} // namespace eert

#endif // EERT_IO_CHECKPOINTCONFIG_H
