// Pipeline stages for training from the cost model, on imported configs. The
// balance report is a remark per stage; the plan is the module's ee.pipeline.
// RUN: ee-compile %S/../../examples/gqa-block-exits.json --emit ee | ee-opt -ee-pipeline-partition="stages=3 seq-len=64" 2>&1 | FileCheck %s --check-prefix=THREE
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | ee-opt -ee-pipeline-partition="stages=2 seq-len=64 microbatches=4" 2>&1 | FileCheck %s --check-prefix=TWO
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | ee-opt -ee-pipeline-partition="split=1,5 seq-len=64" 2>&1 | FileCheck %s --check-prefix=SPLIT
// Errors:
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition="stages=7" 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition="split=2,2" 2>&1 | FileCheck %s --check-prefix=BADSPLIT
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition="split=0,6" 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition="seq-len=1000" 2>&1 | FileCheck %s --check-prefix=SEQ
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition -ee-pipeline-partition 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: ee-opt %s -split-input-file -verify-diagnostics -ee-pipeline-partition

// Block exits cost a whole decoder layer each: the stage holding the first one
// gets two layers where the others get three.
// THREE: remark: pipeline stage 0 of 3: layers [0, 2), exits [0], embedding: {{[0-9.]+}}% of the training FLOPs
// THREE: remark: pipeline stage 1 of 3: layers [2, 5), exits [1]:
// THREE: remark: pipeline stage 2 of 3: layers [5, 8), exits [2], final head:
// THREE: ee.pipeline = #ee.pipeline<seq_len = 64, micro_batch = 1, microbatches = 3, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 2, exits = [0], embedding = true, final_head = false, flops_per_token =
// THREE-SAME: #ee.pipeline_stage<begin_layer = 2, end_layer = 5, exits = [1], embedding = false, final_head = false,
// THREE-SAME: #ee.pipeline_stage<begin_layer = 5, end_layer = 8, exits = [2], embedding = false, final_head = true,
// This model unties its output heads from the input embedding: nothing is shared.
// THREE-SAME: tied = []

// Stage 0 holds 2 micro-batches' activations under 1F1B, stage 1 one.
// TWO: remark: pipeline stage 0 of 2: layers [0, 3), exits [0], embedding: {{.*}} MiB of activations held under 1F1B
// TWO: remark: pipeline stage 1 of 2: layers [3, 6), exits [1], final head:
// TWO: microbatches = 4,
// TWO-SAME: tied = [#ee.tied_parameter<parameter = "model.embed_tokens.weight", stages = [0, 1]>]

// SPLIT: remark: pipeline stage 0 of 2: layers [0, 1), exits [], embedding: {{[0-9.]+}}% of the training FLOPs ({{0\.[0-9]+}}x the mean)
// SPLIT: remark: pipeline stage 1 of 2: layers [1, 6), exits [0, 1], final head:

// STAGES: error: ee-pipeline-partition: 7 pipeline stages for a model of 6 layers (each stage needs at least one layer)
// BADSPLIT: error: ee-pipeline-partition: 'split' covers 4 layers, the model has 6
// EMPTY: error: ee-pipeline-partition: every stage of 'split' needs a layer
// SEQ: error: ee-pipeline-partition: needs 0 < seq-len <= 256 (max_position_embeddings)
// TWICE: error: ee-pipeline-partition: the module already has a pipeline plan

// expected-error @+1 {{ee-pipeline-partition needs an ee.config and a function 'forward'}}
module {
}
