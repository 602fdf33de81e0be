// Commands.h - the generation commands of the model binaries (generate, serve).
#ifndef EERT_CLI_COMMANDS_H
#define EERT_CLI_COMMANDS_H

#include "cli/generate/Generation.h"
#include "cli/model/Model.h"
#include "cli/Options.h"

#include <set>
#include <string>

namespace eert {

extern const std::set<std::string> kGenerateOptions, kGenerateFlags, kServeOptions;

/// `BIN generate`: early-exit generation from prompts, text or JSON Lines out.
int generateCommand(const Manifest &manifest, const Options &options);

/// `BIN serve`: an HTTP server (EE-LLM's PUT /api, OpenAI-style POST
/// /v1/completions) until SIGINT or SIGTERM.
int serveCommand(const Manifest &manifest, const Options &options);

/// Exit indices of EE-LLM style exit layer numbers (throws std::invalid_argument
/// naming a layer without an exit).
std::vector<int64_t> exitsAtLayers(const InferencePlan &plan, const std::vector<double> &layers);

/// The summary of a generation: tokens/s, mean layers run, tokens per exit
/// and, for a speculative request, its drafts' acceptance.
nlohmann::json generationSummary(const GenerationResult &result, const InferencePlan &plan,
                                 const GenerationRequest &request);

} // namespace eert

#endif // EERT_CLI_COMMANDS_H
