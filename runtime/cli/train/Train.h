// Train.h - the training commands of the model binaries: train and preprocess.
#ifndef EERT_CLI_TRAIN_H
#define EERT_CLI_TRAIN_H

#include "cli/model/Model.h"
#include "cli/Options.h"

namespace eert {

/// Options of `train` (Megatron-LM's names).
extern const std::set<std::string> kTrainOptions, kTrainFlags;

/// `BIN train`: AdamW with warm-up and decay, gradient clipping, gradient
/// accumulation over micro-batches, atomic checkpoints, exact resume.
int train(const Manifest &manifest, const Options &options);

/// `BIN preprocess --input FILE --output-prefix P [--json-key text]`: text or
/// JSON Lines into a Megatron indexed dataset, tokenized with --tokenizer DIR
/// (a checkpoint with tokenizer.model) or bytes.
int preprocess(const Manifest &manifest, const Options &options);

/// --seq-len, checked against the model's max_position_embeddings.
int64_t seqLenOption(const Manifest &manifest, const Options &options);

/// The checkpoint directory `path` names: itself, or the `latest` iteration of
/// a save directory.
std::string resolveCheckpoint(const std::string &path);

} // namespace eert

#endif // EERT_CLI_TRAIN_H
