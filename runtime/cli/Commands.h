// Commands.h - the generation commands of the model binaries (generate, serve).
#ifndef EERT_CLI_COMMANDS_H
#define EERT_CLI_COMMANDS_H

#include "cli/Model.h"
#include "cli/Options.h"

#include <set>
#include <string>

namespace eert {

extern const std::set<std::string> kGenerateOptions, kGenerateFlags;

/// `BIN generate`: early-exit generation from prompts, text or JSON Lines out.
int generateCommand(const Manifest &manifest, const Options &options);

} // namespace eert

#endif // EERT_CLI_COMMANDS_H
