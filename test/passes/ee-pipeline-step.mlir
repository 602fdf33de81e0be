// RUN: ee-opt %s -split-input-file -ee-pipeline-step -verify-diagnostics | FileCheck %s

// Two stages, two micro-batches of 1F1B. Stage 0 embeds, sends each output on
// and receives its gradient back; stage 1 receives, runs forward and backward
// in one call and sends the input's gradient back. Receives are posted one
// pass early and waited on just before the call; a send is waited on before
// the next send to the same peer, the last before the return.

module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 2,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage0_loss", forward_function = "stage0_loss_fwd", backward_function = "stage0_loss_bwd">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage1_loss", backward_function = "stage1_loss_grad", heads = [0]>], tied = [],
    schedule = #ee.pipeline_schedule<order = [["F0", "F1", "B0", "B1"], ["F0", "B0", "F1", "B1"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 0.0>>} {
  ee.parameter @embed : tensor<32x8xf32>
  ee.parameter @norm : tensor<8xf32>

  func.func @stage0_loss_fwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
    %w = ee.get_parameter @embed : tensor<32x8xf32>
    %y = ee.embedding_lookup %w, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %zero = arith.constant 0.0 : f32
    return %zero, %y, %y : f32, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  }
  func.func @stage0_loss_bwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64,
                             %g: tensor<?x?x8xf32>, %y: tensor<?x?x8xf32>) -> (f32, tensor<32x8xf32>)
      attributes {ee.gradients = ["embed"]} {
    %p = ee.inner_product %y, %g : tensor<?x?x8xf32>
    %dw = ee.embedding_grad %ids, %g : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<32x8xf32>
    return %p, %dw : f32, tensor<32x8xf32>
  }
  func.func @stage1_loss_grad(%x: tensor<?x?x8xf32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<8xf32>, tensor<?x?x8xf32>, f32, f32) attributes {ee.gradients = ["norm"]} {
    %n = ee.get_parameter @norm : tensor<8xf32>
    %dx, %dn = ee.rms_norm_grad %x, %n, %x eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %l = ee.inner_product %x, %x : tensor<?x?x8xf32>
    return %l, %dn, %dx, %l, %l : f32, tensor<8xf32>, tensor<?x?x8xf32>, f32, f32
  }
}

// The stage functions are inlined into the steps, so they become private.
// CHECK: ee.pipeline = #ee.pipeline<{{.*}}stages = [#ee.pipeline_stage<{{.*}}loss_function = "stage0_loss", train_step = "stage0_train_step", grad_step = "stage0_grad_step">, #ee.pipeline_stage<{{.*}}loss_function = "stage1_loss", heads = [0], train_step = "stage1_train_step", grad_step = "stage1_grad_step">]
// CHECK: func.func private @stage0_loss_fwd
// CHECK: func.func private @stage0_loss_bwd
// CHECK: func.func private @stage1_loss_grad

// CHECK-LABEL: func.func @stage0_train_step
// CHECK-SAME: (%[[IDS0:[^:]*]]: tensor<?x?xi32>, %[[POS0:[^:]*]]: tensor<?x?xi32>, %[[LAB0:[^:]*]]: tensor<?x?xi32>, %[[IDS1:[^:]*]]: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %[[IT:[^:]*]]: i64, %[[SCALE:[^:]*]]: f32) -> (f32, tensor<32x8xf32>)
// CHECK-SAME: ee.gradients = ["embed"], ee.stage = 0 : i64
// CHECK: ee.span_begin "F0" category "forward"
// CHECK-NEXT: %[[F0:.*]]:3 = call @stage0_loss_fwd(%[[IDS0]], %[[POS0]], %[[LAB0]], %[[IT]])
// CHECK-NEXT: %[[SEND0:.*]] = ee.send %[[F0]]#1 to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request
// CHECK-NEXT: ee.span_end "F0"
// The gradient of micro-batch 0 is posted during F1, before B0 reads it.
// CHECK: %[[G0REQ:.*]] = ee.recv from 1 tag 0 shape(%{{.*}}, %{{.*}}) : !ee.request<tensor<?x?x8xf32>>
// CHECK-NEXT: ee.span_begin "F1" category "forward"
// CHECK-NEXT: %[[F1:.*]]:3 = call @stage0_loss_fwd(%[[IDS1]],
// CHECK-NEXT: ee.wait %[[SEND0]] : !ee.request
// CHECK-NEXT: %[[SEND1:.*]] = ee.send %[[F1]]#1 to 1 tag 1
// CHECK-NEXT: ee.span_end "F1"
// CHECK: %[[G1REQ:.*]] = ee.recv from 1 tag 1
// CHECK-NEXT: ee.span_begin "B0" category "backward"
// CHECK-NEXT: %[[G0:.*]] = ee.wait %[[G0REQ]] : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
// CHECK-NEXT: %[[B0:.*]]:2 = call @stage0_loss_bwd(%[[IDS0]], %[[POS0]], %[[LAB0]], %[[IT]], %[[G0]], %[[F0]]#2)
// CHECK: ee.span_end "B0"
// CHECK-NEXT: ee.span_begin "B1" category "backward"
// CHECK-NEXT: %[[G1:.*]] = ee.wait %[[G1REQ]]
// CHECK-NEXT: %[[B1:.*]]:2 = call @stage0_loss_bwd(%[[IDS1]], {{.*}}, %[[G1]], %[[F1]]#2)
// The gradients are summed over the micro-batches, then scaled; the
// objective's terms are averaged.
// CHECK: %[[SUM:.*]] = ee.add %[[B0]]#1, %[[B1]]#1 : tensor<32x8xf32>
// CHECK: ee.span_end "B1"
// CHECK-NEXT: ee.wait %[[SEND1]] : !ee.request
// CHECK-NEXT: %[[SCALED:.*]] = ee.scale %[[SUM]], %[[SCALE]] : tensor<32x8xf32>
// CHECK-NEXT: return %{{.*}}, %[[SCALED]] : f32, tensor<32x8xf32>

// CHECK-LABEL: func.func @stage0_grad_step
// CHECK-SAME: (%{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: i64, %{{[^:]*}}: f32)
// One micro-batch: the gradient's receive is posted before the forward pass.
// CHECK: ee.recv from 1 tag 0
// CHECK-NEXT: ee.span_begin "F0"
// CHECK: ee.send {{.*}} to 1 tag 0

// The last stage's F posts the receive; B waits, calls, sends the gradient back.
// CHECK-LABEL: func.func @stage1_train_step
// CHECK-SAME: -> (f32, f32, tensor<8xf32>)
// CHECK-SAME: ee.stage = 1 : i64
// CHECK: %[[X0REQ:.*]] = ee.recv from -1 tag 0
// CHECK-NEXT: ee.span_begin "F0" category "forward"
// CHECK-NEXT: ee.span_end "F0"
// CHECK-NEXT: ee.span_begin "B0" category "backward"
// CHECK-NEXT: %[[X0:.*]] = ee.wait %[[X0REQ]] : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
// CHECK-NEXT: %[[L0:.*]]:5 = call @stage1_loss_grad(%[[X0]],
// CHECK-NEXT: %[[DX0:.*]] = ee.send %[[L0]]#2 to -1 tag 0
// CHECK: ee.recv from -1 tag 1
// CHECK-NEXT: ee.span_begin "F1"
// CHECK: ee.span_begin "B1"
// CHECK: %[[L1:.*]]:5 = call @stage1_loss_grad(
// CHECK-NEXT: ee.wait %[[DX0]] : !ee.request
// CHECK-NEXT: ee.send %[[L1]]#2 to -1 tag 1
// CHECK-LABEL: func.func @stage1_grad_step

// -----

// Bubble filling: partial micro-batch 2 runs on stage 0 only. It sends
// nothing, back-propagates a zero output gradient, and adds to the gradients
// but not to the losses.

module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 2,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage0_loss", forward_function = "stage0_loss_fwd", backward_function = "stage0_loss_bwd">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage1_loss", backward_function = "stage1_loss_grad", heads = [0]>], tied = [],
    schedule = #ee.pipeline_schedule<order = [["F0", "f2", "b2", "F1", "B0", "B1"], ["F0", "B0", "F1", "B1"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 1, makespan_flops = 0.0>>} {
  ee.parameter @embed : tensor<32x8xf32>
  ee.parameter @norm : tensor<8xf32>
  func.func @stage0_loss_fwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
    %w = ee.get_parameter @embed : tensor<32x8xf32>
    %y = ee.embedding_lookup %w, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %zero = arith.constant 0.0 : f32
    return %zero, %y, %y : f32, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  }
  func.func @stage0_loss_bwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64,
                             %g: tensor<?x?x8xf32>, %y: tensor<?x?x8xf32>) -> (f32, tensor<32x8xf32>)
      attributes {ee.gradients = ["embed"]} {
    %p = ee.inner_product %y, %g : tensor<?x?x8xf32>
    %dw = ee.embedding_grad %ids, %g : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<32x8xf32>
    return %p, %dw : f32, tensor<32x8xf32>
  }
  func.func @stage1_loss_grad(%x: tensor<?x?x8xf32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<8xf32>, tensor<?x?x8xf32>, f32, f32) attributes {ee.gradients = ["norm"]} {
    %n = ee.get_parameter @norm : tensor<8xf32>
    %dx, %dn = ee.rms_norm_grad %x, %n, %x eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %l = ee.inner_product %x, %x : tensor<?x?x8xf32>
    return %l, %dn, %dx, %l, %l : f32, tensor<8xf32>, tensor<?x?x8xf32>, f32, f32
  }
}

// CHECK-LABEL: func.func @stage0_train_step
// Three micro-batches of inputs, then the iteration and the scale.
// CHECK-SAME: %{{[^:]*}}: tensor<?x?xi32>, %[[IDS2:[^:]*]]: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: i64, %{{[^:]*}}: f32)
// CHECK: ee.span_begin "f2" category "partial forward"
// CHECK-NEXT: %[[P:.*]]:3 = call @stage0_loss_fwd(%[[IDS2]],
// CHECK-NEXT: ee.span_end "f2"
// CHECK-NEXT: ee.span_begin "b2" category "partial backward"
// CHECK-NEXT: %[[Z:.*]] = ee.zeros shape(%{{.*}}, %{{.*}}) : tensor<?x?x8xf32>
// CHECK-NEXT: %[[PB:.*]]:2 = call @stage0_loss_bwd(%[[IDS2]], {{.*}}, %[[Z]], %[[P]]#2)
// CHECK-NEXT: ee.span_end "b2"
// The partial micro-batch sends nothing; the whole ones do.
// CHECK-NOT: tag 2
// CHECK: ee.add %[[PB]]#1
// CHECK-NOT: tag 2
// CHECK: return
// CHECK-LABEL: func.func @stage1_train_step
// CHECK-NOT: tag 2
// CHECK: return

// -----

// expected-error @+1 {{ee-pipeline-step: the step deadlocks: stage 0 waits to receive message 0 from stage 1; stage 1 waits to receive message 1 from stage 0}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 2,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "loss0", forward_function = "fwd", backward_function = "bwd">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "loss1", backward_function = "last">], tied = [],
    schedule = #ee.pipeline_schedule<order = [["F0", "B0", "F1", "B1"], ["F1", "B1", "F0", "B0"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 0.0>>} {
  func.func @fwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<?x?x8xf32>) {
    %s = arith.constant 0.0 : f32
    %c = arith.constant 1 : index
    %y = ee.zeros shape(%c, %c) : tensor<?x?x8xf32>
    return %s, %y : f32, tensor<?x?x8xf32>
  }
  func.func @bwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64,
                 %g: tensor<?x?x8xf32>) -> f32 attributes {ee.gradients = []} {
    %s = arith.constant 0.0 : f32
    return %s : f32
  }
  func.func @last(%x: tensor<?x?x8xf32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<?x?x8xf32>, f32) attributes {ee.gradients = []} {
    %s = arith.constant 0.0 : f32
    return %s, %x, %s : f32, tensor<?x?x8xf32>, f32
  }
}

// -----

// expected-error @+1 {{ee-pipeline-step: needs the schedule of ee-pipeline-schedule}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 2,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = []>} {
}

// -----

// expected-error @+1 {{ee-pipeline-step: a partial micro-batch of the schedule must stop before the last stage}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = [],
    schedule = #ee.pipeline_schedule<order = [["F0", "f1", "B0", "b1"], ["F0", "f1", "b1", "B0"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 1, makespan_flops = 0.0>>} {
}

// -----

// expected-error @+1 {{ee-pipeline-step: stage 0's schedule does not run micro-batch 1 forward and backward once}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 2,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0>], tied = [],
    schedule = #ee.pipeline_schedule<order = [["F0", "B0"], ["F0", "B0", "F1", "B1"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 0.0>>} {
}

// -----

// expected-error @+1 {{ee-pipeline-step: stage 1 needs its forward and backward functions (ee-exit-gradients, ee-autodiff) in the plan}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "loss0", forward_function = "fwd", backward_function = "bwd">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "loss1", backward_function = "missing">], tied = [],
    schedule = #ee.pipeline_schedule<order = [["F0", "B0"], ["F0", "B0"]], bubble_fraction = 0.0, plain_bubble_fraction = 0.0, filled_microbatches = 0, makespan_flops = 0.0>>} {
  func.func @fwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<?x?x8xf32>) {
    %s = arith.constant 0.0 : f32
    %c = arith.constant 1 : index
    %y = ee.zeros shape(%c, %c) : tensor<?x?x8xf32>
    return %s, %y : f32, tensor<?x?x8xf32>
  }
  func.func @bwd(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64,
                 %g: tensor<?x?x8xf32>) -> f32 attributes {ee.gradients = []} {
    %s = arith.constant 0.0 : f32
    return %s : f32
  }
}
