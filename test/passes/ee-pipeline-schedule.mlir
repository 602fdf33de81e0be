// Each stage's 1F1B order from the partitioned plan, the planned bubble
// fraction, bubble filling with partial micro-batches and the Chrome trace.
// RUN: rm -rf %t && mkdir -p %t
// RUN: ee-compile %S/../../examples/eellm-1.3b.json --emit ee | ee-opt -ee-pipeline-partition="stages=4 microbatches=6" -ee-pipeline-schedule 2>&1 | FileCheck %s --check-prefix=PLAIN
// RUN: ee-compile %S/../../examples/eellm-1.3b.json --emit ee | ee-opt -ee-pipeline-partition="stages=4 microbatches=6" -ee-pipeline-schedule="fill-bubbles=4 trace=%t/trace.json" 2>&1 | FileCheck %s --check-prefix=FILL
// RUN: FileCheck %s --check-prefix=TRACE < %t/trace.json
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | ee-opt -ee-pipeline-partition="stages=2 seq-len=64 microbatches=1" -ee-pipeline-schedule 2>&1 | FileCheck %s --check-prefix=ONE
// Errors:
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-schedule 2>&1 | FileCheck %s --check-prefix=NOPLAN
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition -ee-pipeline-schedule="fill-bubbles=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition -ee-pipeline-schedule -ee-pipeline-schedule 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | not ee-opt -ee-pipeline-partition -ee-pipeline-schedule="trace=%t/no/such/dir/t.json" 2>&1 | FileCheck %s --check-prefix=TRACEFILE

// Stage s warms up with min(P - s - 1, M) forwards, alternates, then drains.
// PLAIN: remark: 1F1B over 6 micro-batches on 4 stages: bubble fraction [[PLAIN:0\.[0-9]+]] (plain 1F1B [[PLAIN]]), 0 partial micro-batches
// PLAIN: schedule = <order = {{\[}}["F0", "F1", "F2", "F3", "B0", "F4", "B1", "F5", "B2", "B3", "B4", "B5"],
// PLAIN-SAME: ["F0", "F1", "F2", "B0", "F3", "B1", "F4", "B2", "F5", "B3", "B4", "B5"],
// PLAIN-SAME: ["F0", "F1", "B0", "F2", "B1", "F3", "B2", "F4", "B3", "F5", "B4", "B5"],
// PLAIN-SAME: ["F0", "B0", "F1", "B1", "F2", "B2", "F3", "B3", "F4", "B4", "F5", "B5"]]

// An extra micro-batch runs up to the first exit (stage 0) in stage 0's
// warm-up bubble: the bubble fraction falls, the 1F1B order stays.
// FILL: remark: 1F1B over 6 micro-batches on 4 stages: bubble fraction 0.321 (plain 1F1B 0.349), 1 partial micro-batches (exit losses only) on stages up to 1
// FILL: schedule = <order = {{\[}}["F0", "F1", "F2", "F3", "f6", "b6", "B0", "F4", "B1", "F5", "B2", "B3", "B4", "B5"],
// FILL-SAME: ["F0", "F1", "F2", "B0", "F3", "B1", "F4", "B2", "F5", "B3", "B4", "B5"]
// FILL-SAME: bubble_fraction = 0.32{{[0-9]+}}, plain_bubble_fraction = 0.34{{[0-9]+}}, filled_microbatches = 1, makespan_flops =

// TRACE: "otherData": {
// TRACE-DAG: "bubble_fraction": 0.32
// TRACE-DAG: "plain_1f1b_bubble_fraction": 0.34
// TRACE-DAG: "filled_microbatches": 1
// TRACE: "traceEvents": [
// TRACE: "name": "stage 0"
// TRACE: "cat": "forward"
// TRACE: "name": "F0"
// TRACE: "ph": "X"
// TRACE: "cat": "partial forward"
// TRACE: "name": "f6"

// One micro-batch: no overlap at all, F then B down and back.
// ONE: schedule = <order = {{\[}}["F0", "B0"], ["F0", "B0"]]

// NOPLAN: error: ee-pipeline-schedule needs the stages of ee-pipeline-partition (and no schedule yet)
// NEGATIVE: error: ee-pipeline-schedule: fill-bubbles must be >= 0
// TWICE: error: ee-pipeline-schedule needs the stages of ee-pipeline-partition (and no schedule yet)
// TRACEFILE: error: ee-pipeline-schedule: cannot write the trace:
