// RUN: ee-opt %s -split-input-file -ee-data-parallel=bucket-size=40 -verify-diagnostics | FileCheck %s
// RUN: ee-opt %s -split-input-file -ee-data-parallel="bucket-size=40 distributed-optimizer=true" -verify-diagnostics | FileCheck %s --check-prefix=ZERO

// One stage: the update step takes loss_grad's arguments, the gradient scale,
// the earlier micro-batches' summed gradients and the hyperparameters. Each
// gradient joins that sum and is scaled right where the backward pass makes
// it; a bucket's all-reduces start after its last gradient (the 32-element
// embedding gradient alone does not fill a 40-element bucket: it waits for
// the norm weight's). The sums are waited on after the backward pass, the
// norm is taken over both, and AdamW skips the decay of the norm weight.
//
// ZeRO-1 (ZERO): the same places get reduce-scatters; the norm adds the
// blocks' squares over dp, each block is updated with dp_shard and its
// parameter's all-gather starts right after; they are waited on at the end.

// CHECK: module attributes {ee.data_parallel = #ee.data_parallel<bucket_size = 40, distributed_optimizer = false>}
// ZERO: module attributes {ee.data_parallel = #ee.data_parallel<bucket_size = 40, distributed_optimizer = true>}
module {
  ee.parameter @embed : tensor<4x8xf32>
  ee.parameter @norm : tensor<8xf32>
  ee.parameter @head : tensor<8x8xf32>
  // CHECK-LABEL: func.func @update_step(
  // CHECK-SAME: %[[IDS:[^:]*]]: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: tensor<?x?xi32>, %{{[^:]*}}: i64,
  // CHECK-SAME: %[[SCALE:[^:]*]]: f32, %[[SE:[^:]*]]: tensor<4x8xf32>, %[[SN:[^:]*]]: tensor<8xf32>, %[[SH:[^:]*]]: tensor<8x8xf32>,
  // CHECK-SAME: %[[LR:[^:]*]]: f32, %[[STEP:[^:]*]]: i64, %[[MAX:[^:]*]]: f32, %[[B1:[^:]*]]: f32, %[[B2:[^:]*]]: f32, %[[EPS:[^:]*]]: f32, %[[WD:[^:]*]]: f32)
  // CHECK-SAME: -> (f32, f32, f32)
  // CHECK: %[[DH:.*]] = ee.linear_grad_weight
  // CHECK-NEXT: %[[H1:.*]] = ee.add %[[SH]], %[[DH]]
  // CHECK-NEXT: %[[H:.*]] = ee.scale %[[H1]], %[[SCALE]]
  // CHECK-NEXT: %[[RH:.*]] = ee.all_reduce_start %[[H]] over dp : tensor<8x8xf32>
  // CHECK: %[[DN:.*]] = ee.rms_norm_grad
  // CHECK: ee.scale {{.*}}, %[[SCALE]] : tensor<8xf32>
  // CHECK: %[[DE:.*]] = ee.embedding_grad
  // CHECK-NEXT: %[[E1:.*]] = ee.add %[[SE]], %[[DE]]
  // CHECK-NEXT: %[[E:.*]] = ee.scale %[[E1]], %[[SCALE]]
  // CHECK-NEXT: %[[RN:.*]] = ee.all_reduce_start %{{.*}} over dp : tensor<8xf32>
  // CHECK-NEXT: %[[RE:.*]] = ee.all_reduce_start %[[E]] over dp : tensor<4x8xf32>
  // CHECK: %[[WH:.*]] = ee.wait %[[RH]]
  // CHECK-NEXT: %[[WN:.*]] = ee.wait %[[RN]]
  // CHECK-NEXT: %[[WE:.*]] = ee.wait %[[RE]]
  // CHECK: ee.inner_product %[[WH]], %[[WH]]
  // CHECK: ee.inner_product %[[WN]], %[[WN]]
  // CHECK: ee.inner_product %[[WE]], %[[WE]]
  // CHECK-NOT: all_reduce_start
  // CHECK: %[[NORM:.*]] = math.sqrt
  // CHECK: %[[CLIPS:.*]] = arith.cmpf ogt, %[[NORM]], %[[MAX]]
  // CHECK: %[[FACTOR:.*]] = arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
  // CHECK: ee.adamw @embed, %[[WE]] lr %[[LR]] step %[[STEP]] scale %[[FACTOR]] beta1 %[[B1]] beta2 %[[B2]] eps %[[EPS]] weight_decay %[[WD]] : tensor<4x8xf32>
  // CHECK: ee.adamw @norm, %[[WN]] {{.*}} weight_decay %[[WD]] no_decay : tensor<8xf32>
  // CHECK: ee.adamw @head, %[[WH]] {{.*}} weight_decay %[[WD]] : tensor<8x8xf32>
  // CHECK: return %{{.*}}, %{{.*}}, %[[NORM]] : f32, f32, f32
  // ZERO-LABEL: func.func @update_step(
  // ZERO: %[[H:.*]] = ee.scale %{{.*}} : tensor<8x8xf32>
  // ZERO-NEXT: %[[RH:.*]] = ee.reduce_scatter_start %[[H]] over dp : tensor<8x8xf32> -> !ee.request<tensor<?xf32>>
  // ZERO: %[[RN:.*]] = ee.reduce_scatter_start %{{.*}} over dp : tensor<8xf32> -> !ee.request<tensor<?xf32>>
  // ZERO-NEXT: %[[RE:.*]] = ee.reduce_scatter_start %{{.*}} over dp : tensor<4x8xf32> -> !ee.request<tensor<?xf32>>
  // ZERO: %[[WH:.*]] = ee.wait %[[RH]] : !ee.request<tensor<?xf32>> -> tensor<?xf32>
  // ZERO-NEXT: %[[WN:.*]] = ee.wait %[[RN]]
  // ZERO-NEXT: %[[WE:.*]] = ee.wait %[[RE]]
  // ZERO: ee.inner_product %[[WE]], %[[WE]] : tensor<?xf32>
  // ZERO-NEXT: %[[SQ:.*]] = arith.addf
  // ZERO-NEXT: %[[RS:.*]] = ee.all_reduce_start %[[SQ]] over dp : f32
  // ZERO-NEXT: %[[S:.*]] = ee.wait %[[RS]]
  // ZERO-NEXT: math.sqrt %[[S]]
  // ZERO: ee.adamw @embed, %[[WE]] {{.*}} dp_shard : tensor<?xf32>
  // ZERO-NEXT: %[[GE:.*]] = ee.all_gather_parameter_start @embed over dp : !ee.request
  // ZERO-NEXT: ee.adamw @norm, %[[WN]] {{.*}} no_decay dp_shard : tensor<?xf32>
  // ZERO-NEXT: %[[GN:.*]] = ee.all_gather_parameter_start @norm over dp
  // ZERO-NEXT: ee.adamw @head, %[[WH]] {{.*}} dp_shard : tensor<?xf32>
  // ZERO-NEXT: %[[GH:.*]] = ee.all_gather_parameter_start @head over dp
  // ZERO-NEXT: ee.wait %[[GE]] : !ee.request
  // ZERO-NEXT: ee.wait %[[GN]] : !ee.request
  // ZERO-NEXT: ee.wait %[[GH]] : !ee.request
  // ZERO-NEXT: ee.span_end "optimizer"
  func.func @loss_grad(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<4x8xf32>, tensor<8xf32>, tensor<8x8xf32>, f32) attributes {ee.gradients = ["embed", "norm", "head"]} {
    %e = ee.get_parameter @embed : tensor<4x8xf32>
    %n = ee.get_parameter @norm : tensor<8xf32>
    %h = ee.get_parameter @head : tensor<8x8xf32>
    %x = ee.embedding_lookup %e, %ids : tensor<4x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %y = ee.rms_norm %x, %n eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %z = ee.linear %y, %h : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %loss = ee.inner_product %z, %z : tensor<?x?x8xf32>
    %dh = ee.linear_grad_weight %z, %y : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
    %dy = ee.linear_grad_input %z, %h : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %dx, %dn = ee.rms_norm_grad %x, %n, %dy eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %de = ee.embedding_grad %ids, %dx : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<4x8xf32>
    return %loss, %de, %dn, %dh, %loss : f32, tensor<4x8xf32>, tensor<8xf32>, tensor<8x8xf32>, f32
  }
}

// -----

// Two stages sharing a tied weight. Each stage's update step is its train
// step with the hyperparameters after its arguments. Stage 0's last sum and
// scale move up to the last pass's gradient, before the rest of the pass.
// The tied gradient is exchanged after the data-parallel sums (same tag both
// ways, after the pipeline's messages) and added in stage order; only its
// owner (stage 0) counts it in the norm, which the stages sum over pp.
// Under ZeRO-1 (ZERO) the stages exchange the tied weight's whole gradient,
// then reduce-scatter the sum.

module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage0_loss", train_step = "stage0_train_step", grad_step = "stage0_grad_step">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage1_loss", heads = [0], train_step = "stage1_train_step", grad_step = "stage1_grad_step">], tied = []>} {
  ee.parameter @embed : tensor<4x8xf32>
  ee.parameter @norm : tensor<8xf32>
  // The plan names the update steps.
  // CHECK: update_step = "stage0_update_step"
  // CHECK-SAME: update_step = "stage1_update_step"
  // CHECK-LABEL: func.func @stage0_update_step(
  // CHECK-SAME: -> (f32, f32) attributes {ee.stage = 0 : i64}
  // CHECK: %[[G0:.*]] = ee.add %{{.*}}, %{{.*}} : tensor<4x8xf32>
  // CHECK-NEXT: %[[G1:.*]] = ee.add %[[G0]], %{{.*}} : tensor<4x8xf32>
  // CHECK-NEXT: %[[SUM:.*]] = ee.add %[[G0]], %[[G1]]
  // CHECK-NEXT: %[[S:.*]] = ee.scale %[[SUM]]
  // CHECK-NEXT: %[[R:.*]] = ee.all_reduce_start %[[S]] over dp
  // CHECK-NEXT: ee.recv from 1 tag 7
  // CHECK: %[[W:.*]] = ee.wait %[[R]]
  // CHECK-NEXT: %[[IN:.*]] = ee.recv from 1 tag 8 : !ee.request<tensor<4x8xf32>>
  // CHECK-NEXT: %[[OUT:.*]] = ee.send %[[W]] to 1 tag 8
  // CHECK-NEXT: %[[THEIRS:.*]] = ee.wait %[[IN]]
  // CHECK-NEXT: %[[TIED:.*]] = ee.add %[[W]], %[[THEIRS]]
  // CHECK-NEXT: ee.wait %[[OUT]] : !ee.request
  // CHECK-NEXT: %[[SQ:.*]] = ee.inner_product %[[TIED]], %[[TIED]]
  // CHECK-NEXT: %[[TOTAL:.*]] = ee.all_reduce_start %[[SQ]] over pp : f32 -> !ee.request<f32>
  // CHECK: ee.adamw @embed, %[[TIED]]
  // CHECK-LABEL: func.func @stage1_update_step(
  // CHECK: %[[IN1:.*]] = ee.recv from -1 tag 8
  // CHECK-NEXT: %[[OUT1:.*]] = ee.send %[[MINE:.*]] to -1 tag 8
  // CHECK-NEXT: %[[THEIRS1:.*]] = ee.wait %[[IN1]]
  // CHECK-NEXT: %[[TIED1:.*]] = ee.add %[[THEIRS1]], %[[MINE]]
  // CHECK: ee.inner_product %[[NORM1:[^,]*]], %[[NORM1]] : tensor<8xf32>
  // CHECK-NOT: ee.inner_product
  // CHECK: ee.all_reduce_start %{{.*}} over pp : f32
  // CHECK: ee.adamw @embed, %[[TIED1]]
  // CHECK: ee.adamw @norm, %[[NORM1]] {{.*}} no_decay
  // ZERO-LABEL: func.func @stage0_update_step(
  // ZERO: %[[S:.*]] = ee.scale %{{.*}} : tensor<4x8xf32>
  // ZERO-NOT: reduce_scatter_start
  // ZERO: %[[IN:.*]] = ee.recv from 1 tag 8 : !ee.request<tensor<4x8xf32>>
  // ZERO-NEXT: %[[OUT:.*]] = ee.send %[[S]] to 1 tag 8
  // ZERO-NEXT: %[[THEIRS:.*]] = ee.wait %[[IN]]
  // ZERO-NEXT: %[[TIED:.*]] = ee.add %[[S]], %[[THEIRS]]
  // ZERO-NEXT: %[[R:.*]] = ee.reduce_scatter_start %[[TIED]] over dp
  // ZERO-NEXT: %[[BLOCK:.*]] = ee.wait %[[R]]
  // ZERO-NEXT: ee.wait %[[OUT]] : !ee.request
  // ZERO-NEXT: %[[SQ:.*]] = ee.inner_product %[[BLOCK]], %[[BLOCK]] : tensor<?xf32>
  // ZERO-NEXT: ee.all_reduce_start %[[SQ]] over dp : f32
  // ZERO: ee.all_reduce_start %{{.*}} over pp : f32
  // ZERO: ee.adamw @embed, %[[BLOCK]] {{.*}} dp_shard
  // ZERO-NEXT: ee.all_gather_parameter_start @embed over dp
  func.func @stage0_train_step(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64, %gs: f32)
      -> (f32, tensor<4x8xf32>) attributes {ee.gradients = ["embed"], ee.stage = 0 : i64} {
    %e = ee.get_parameter @embed : tensor<4x8xf32>
    %g0 = ee.add %e, %e : tensor<4x8xf32>
    %g1 = ee.add %g0, %e : tensor<4x8xf32>
    %r = ee.recv from 1 tag 7 : !ee.request<tensor<4x8xf32>>
    %later = ee.wait %r : !ee.request<tensor<4x8xf32>> -> tensor<4x8xf32>
    %sum = ee.add %g0, %g1 : tensor<4x8xf32>
    %scaled = ee.scale %sum, %gs : tensor<4x8xf32>
    %objective = ee.inner_product %later, %later : tensor<4x8xf32>
    return %objective, %scaled : f32, tensor<4x8xf32>
  }
  func.func @stage1_train_step(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64, %gs: f32)
      -> (f32, f32, tensor<4x8xf32>, tensor<8xf32>) attributes {ee.gradients = ["embed", "norm"], ee.stage = 1 : i64} {
    %e = ee.get_parameter @embed : tensor<4x8xf32>
    %n = ee.get_parameter @norm : tensor<8xf32>
    %sent = ee.send %e to -1 tag 7 : tensor<4x8xf32> -> !ee.request
    ee.wait %sent : !ee.request
    %ge = ee.scale %e, %gs : tensor<4x8xf32>
    %gn = ee.scale %n, %gs : tensor<8xf32>
    %objective = ee.inner_product %n, %n : tensor<8xf32>
    return %objective, %objective, %ge, %gn : f32, f32, tensor<4x8xf32>, tensor<8xf32>
  }
}

// -----

// Tensor parallelism: the squares of split weights are summed over tp, those
// of weights every rank holds whole are counted as they are.

module attributes {ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {head = 0 : i64}>} {
  ee.parameter @norm : tensor<8xf32>
  ee.parameter @head : tensor<4x8xf32>
  // CHECK-LABEL: func.func @update_step(
  // CHECK: %[[WN:.*]] = ee.wait {{.*}} -> tensor<8xf32>
  // CHECK: %[[WH:.*]] = ee.wait {{.*}} -> tensor<4x8xf32>
  // CHECK: %[[QN:.*]] = ee.inner_product %[[WN]], %[[WN]]
  // CHECK: %[[QH:.*]] = ee.inner_product %[[WH]], %[[WH]]
  // CHECK: %[[R:.*]] = ee.all_reduce_start %[[QH]] over tp : f32
  // CHECK: %[[SPLIT:.*]] = ee.wait %[[R]] : !ee.request<f32> -> f32
  // CHECK: %[[ALL:.*]] = arith.addf %[[SPLIT]], %[[QN]]
  // CHECK: math.sqrt %[[ALL]]
  func.func @loss_grad(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<8xf32>, tensor<4x8xf32>) attributes {ee.gradients = ["norm", "head"]} {
    %n = ee.get_parameter @norm : tensor<8xf32>
    %h = ee.get_parameter @head : tensor<4x8xf32>
    %dn = ee.add %n, %n : tensor<8xf32>
    %dh = ee.add %h, %h : tensor<4x8xf32>
    %loss = ee.inner_product %dn, %dn : tensor<8xf32>
    return %loss, %dn, %dh : f32, tensor<8xf32>, tensor<4x8xf32>
  }
}

// -----

// A bf16 weight (ee-mixed-precision) has an f32 gradient of its shape: the
// update step reduces it in f32 (reduce-scatters it under ZeRO-1) and
// updates the weight from it.
module {
  ee.parameter @embed : tensor<4x8xf32>
  ee.parameter @head : tensor<8x8xbf16>
  // CHECK-LABEL: func.func @update_step(
  // CHECK-SAME: %{{[^:]*}}: tensor<8x8xf32>,
  // CHECK: %[[R:.*]] = ee.all_reduce_start %{{.*}} over dp : tensor<8x8xf32> -> !ee.request<tensor<8x8xf32>>
  // CHECK: %[[W:.*]] = ee.wait %[[R]]
  // CHECK: ee.adamw @head, %[[W]] {{.*}} : tensor<8x8xf32>
  // ZERO-LABEL: func.func @update_step(
  // ZERO: ee.reduce_scatter_start %{{.*}} over dp : tensor<8x8xf32> -> !ee.request<tensor<?xf32>>
  // ZERO: ee.adamw @head, %{{.*}} dp_shard : tensor<?xf32>
  // ZERO-NEXT: ee.all_gather_parameter_start @head over dp
  func.func @loss_grad(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<8x8xf32>, f32) attributes {ee.gradients = ["head"]} {
    %e = ee.get_parameter @embed : tensor<4x8xf32>
    %h = ee.get_parameter @head : tensor<8x8xbf16>
    %x = ee.embedding_lookup %e, %ids : tensor<4x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %xb = ee.convert %x : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    %z = ee.linear %xb, %h : tensor<?x?x8xbf16>, tensor<8x8xbf16> -> tensor<?x?x8xf32>
    %loss = ee.inner_product %z, %z : tensor<?x?x8xf32>
    %zb = ee.convert %z : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    %dh = ee.linear_grad_weight %zb, %xb : tensor<?x?x8xbf16>, tensor<?x?x8xbf16> -> tensor<8x8xf32>
    return %loss, %dh, %loss : f32, tensor<8x8xf32>, f32
  }
}

// -----

// A gradient must be f32, of a bf16 weight too.
// expected-error @+1 {{ee-data-parallel: @loss_grad's gradient 0 is not of a parameter's shape (head)}}
module {
  ee.parameter @head : tensor<8x8xbf16>
  func.func @loss_grad(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<8x8xbf16>) attributes {ee.gradients = ["head"]} {
    %c = arith.constant 0.0 : f32
    %h = ee.get_parameter @head : tensor<8x8xbf16>
    return %c, %h : f32, tensor<8x8xbf16>
  }
}

// -----

// expected-error @+1 {{ee-data-parallel: @loss_grad's gradient 0 is not of a parameter's shape (head)}}
module {
  ee.parameter @head : tensor<8x4xf32>
  ee.parameter @other : tensor<4x8xf32>
  func.func @loss_grad(%ids: tensor<?x?xi32>, %pos: tensor<?x?xi32>, %labels: tensor<?x?xi32>, %it: i64)
      -> (f32, tensor<4x8xf32>) attributes {ee.gradients = ["head"]} {
    %c = arith.constant 0.0 : f32
    %o = ee.get_parameter @other : tensor<4x8xf32>
    %z = ee.add %o, %o : tensor<4x8xf32>
    return %c, %z : f32, tensor<4x8xf32>
  }
}

// -----

// expected-error @+1 {{ee-data-parallel: @loss_grad is not ee-autodiff's (ids, positions, labels, iteration) -> (loss, gradients..., metrics...)}}
module {
  func.func @loss_grad(%ids: tensor<?x?xi32>) -> f32 {
    %c = arith.constant 0.0 : f32
    return %c : f32
  }
}

// -----

// expected-error @+1 {{ee-data-parallel: stage 1 needs its train step (ee-pipeline-step) in the plan}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage0_loss", train_step = "stage0_train_step", grad_step = "stage0_grad_step">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage1_loss", heads = [0]>], tied = []>} {
  func.func @stage0_train_step(%gs: f32) -> f32 attributes {ee.gradients = []} {
    return %gs : f32
  }
}

// -----

// A stage's gradients must be ee-pipeline-step's scaled sums.
module attributes {ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = false, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage0_loss", train_step = "stage0_train_step", grad_step = "stage0_grad_step">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 1.0, activation_bytes = 1.0, loss_function = "stage1_loss", train_step = "stage1_train_step", grad_step = "stage1_grad_step">], tied = []>} {
  ee.parameter @norm : tensor<8xf32>
  // expected-error @+1 {{ee-data-parallel: gradient 0 of @stage0_train_step is not the scaled sum of ee-pipeline-step}}
  func.func @stage0_train_step(%gs: f32) -> (f32, tensor<8xf32>) attributes {ee.gradients = ["norm"]} {
    %n = ee.get_parameter @norm : tensor<8xf32>
    return %gs, %n : f32, tensor<8xf32>
  }
  func.func @stage1_train_step(%gs: f32) -> (f32, tensor<8xf32>) attributes {ee.gradients = ["norm"]} {
    %n = ee.get_parameter @norm : tensor<8xf32>
    return %gs, %n : f32, tensor<8xf32>
  }
}
