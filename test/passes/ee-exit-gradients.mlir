// Each pipeline stage's surrogate loss L_aux (exit losses on the stage +
// <y_s, g_s>), and the forward and backward parts ee-autodiff derives from it.
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | ee-opt -ee-pipeline-partition="stages=3 seq-len=64" -ee-exit-gradients 2>/dev/null | FileCheck %s
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | ee-opt -ee-pipeline-partition="stages=3 seq-len=64" -ee-exit-gradients -ee-expand -inline -canonicalize -cse -ee-autodiff -canonicalize 2>/dev/null | FileCheck %s --check-prefix=GRAD
// A block exit and an untied head stay with the stage of the layer they read.
// RUN: ee-compile %S/../../examples/gqa-block-exits.json --emit ee | ee-opt -ee-pipeline-partition="split=2,6" -ee-exit-gradients 2>/dev/null | FileCheck %s --check-prefix=BLOCK
// RUN: ee-opt %s -split-input-file -verify-diagnostics -ee-exit-gradients
// A plan for another model: the stages must end at the model's last layer.
// RUN: ee-compile %S/../../examples/tiny-early-exit.json --emit ee | ee-opt -ee-pipeline-partition="stages=2" 2>/dev/null | sed 's/end_layer = 6,/end_layer = 7,/' | not ee-opt -ee-exit-gradients 2>&1 | FileCheck %s --check-prefix=LAYERS
// LAYERS: error: ee-exit-gradients: pipeline stage 1 ends at layer 7 of a model with 6 layers

// The plan names each stage's functions and the heads it reports: the
// stages before the last run the forward and backward parts of their loss
// at F and B of 1F1B, the last stage both at once.
// CHECK: ee.pipeline = {{.*}}stages = [#ee.pipeline_stage<{{.*}}loss_function = "stage0_loss", forward_function = "stage0_loss_fwd", backward_function = "stage0_loss_bwd", heads = [1]>
// CHECK-SAME: loss_function = "stage1_loss", forward_function = "stage1_loss_fwd", backward_function = "stage1_loss_bwd", heads = [2]>
// CHECK-SAME: loss_function = "stage2_loss", backward_function = "stage2_loss_grad", heads = [0]>

// Stage 0 embeds token ids and runs layers 0-1; its loss holds exit 0's
// weighted loss plus <y_0, g_0>, reports exit 0 (head slot 1) and returns y_0
// for the next stage; g_0 (argument 4) only reaches the backward part.
// CHECK-LABEL: func.func @stage0_loss(%arg0: tensor<?x?xi32>, %arg1: tensor<?x?xi32>, %arg2: tensor<?x?xi32>, %arg3: i64, %arg4: tensor<?x?x128xf32>) -> (f32, f32, f32, tensor<?x?x128xf32>) attributes {ee.differentiate = array<i64>, ee.split_backward = array<i64: 4>}
// CHECK: ee.embedding %arg0
// CHECK: weights("model.layers.0")
// CHECK: %[[Y:.*]], %{{.*}} = ee.decoder_layer {{.*}} weights("model.layers.1")
// CHECK: %[[E0:.*]] = ee.exit %[[Y]] exit 0 layer 2
// CHECK: %[[W0:.*]] = ee.exit_loss %[[E0]], %arg2, %arg3
// CHECK: %[[CE0:.*]] = ee.cross_entropy %[[E0]], %arg2
// CHECK: %[[P:.*]] = ee.inner_product %[[Y]], %arg4
// CHECK: %[[AUX:.*]] = arith.addf %[[W0]], %[[P]]
// CHECK: return %[[AUX]], %[[W0]], %[[CE0]], %[[Y]]
// The middle stage receives x (argument 0) and differentiates with respect to it.
// CHECK-LABEL: func.func @stage1_loss(%arg0: tensor<?x?x128xf32>, {{.*}}, %arg4: tensor<?x?x128xf32>) -> (f32, f32, f32, tensor<?x?x128xf32>) attributes {ee.differentiate = array<i64: 0>, ee.split_backward = array<i64: 4>}
// CHECK-NOT: ee.embedding
// CHECK: weights("model.layers.2")
// CHECK: ee.exit {{.*}} exit 1 layer 4
// CHECK: ee.inner_product
// The last stage has no g: L_aux is L_final.
// CHECK-LABEL: func.func @stage2_loss(%arg0: tensor<?x?x128xf32>, %arg1: tensor<?x?xi32>, %arg2: tensor<?x?xi32>, %arg3: i64) -> (f32, f32, f32) attributes {ee.differentiate = array<i64: 0>}
// CHECK: %[[F:.*]] = ee.final_head
// CHECK: %[[LF:.*]] = ee.cross_entropy %[[F]], %arg2
// CHECK-NOT: ee.inner_product
// CHECK: return %[[LF]], %[[LF]],

// The forward part (no g): the losses, y_1, then the activations the
// backward part reads. The backward part: the stage's parameters' gradients
// only (named in ee.gradients), then the gradient of x; g_1 seeds y_1's
// gradient (the inner product's scale by 1 folds away) and adds to the exit's.
// GRAD-LABEL: func.func @stage1_loss_fwd(%arg0: tensor<?x?x128xf32>, %arg1: tensor<?x?xi32>, %arg2: tensor<?x?xi32>, %arg3: i64)
// GRAD-SAME: -> (f32, f32, tensor<?x?x128xf32>,
// GRAD-NOT: ee.inner_product
// GRAD-NOT: _grad
// GRAD: return
// GRAD-LABEL: func.func @stage1_loss_bwd(%arg0: tensor<?x?x128xf32>, %arg1: tensor<?x?xi32>, %arg2: tensor<?x?xi32>, %arg3: i64, %arg4: tensor<?x?x128xf32>, %arg5: tensor<?x?x128xf32>
// GRAD-SAME: -> (f32, tensor<256x128xf32>, tensor<128xf32>,
// GRAD-SAME: tensor<?x?x128xf32>)
// GRAD-SAME: ee.gradients = ["model.embed_tokens.weight", "model.layers.2.input_layernorm.weight",
// GRAD-SAME: "model.layers.3.mlp.down_proj.weight", "exits.1.norm.weight"]
// GRAD: ee.inner_product {{.*}}, %arg4
// GRAD: ee.add %arg4, %{{.*}} : tensor<?x?x128xf32>
// GRAD: %[[DX:.*]], %{{.*}} = ee.rms_norm_grad %arg0
// GRAD: %[[DIN:.*]] = ee.add %{{.*}}, %[[DX]]
// GRAD: return {{.*}}, %[[DIN]] : f32,
// The last stage keeps one backward function.
// GRAD-LABEL: func.func @stage2_loss_grad

// BLOCK-LABEL: func.func @stage0_loss
// BLOCK: weights("model.layers.1")
// BLOCK: ee.exit {{.*}} exit 0 layer 2 branch block
// BLOCK-NOT: exit 1 layer
// BLOCK: ee.inner_product
// BLOCK-LABEL: func.func @stage1_loss
// BLOCK: ee.exit {{.*}} exit 1 layer 4 branch block
// BLOCK: ee.exit {{.*}} exit 2 layer 6 branch block
// BLOCK: ee.final_head

// expected-error @+1 {{ee-exit-gradients needs the stages of ee-pipeline-partition}}
module {
}

// -----

// expected-error @+1 {{ee-exit-gradients needs the functions 'forward' and 'loss'}}
module attributes {ee.pipeline = #ee.pipeline<seq_len = 8, micro_batch = 1, microbatches = 1, stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [], embedding = true, final_head = true, flops_per_token = 0.0, parameter_bytes = 0.0, activation_bytes = 0.0>], tied = []>} {
}
