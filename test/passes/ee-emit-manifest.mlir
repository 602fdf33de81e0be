// RUN: ee-opt %s -ee-emit-manifest -split-input-file -verify-diagnostics | FileCheck %s

// The manifest holds the exported config, the parameters in declaration
// order, every entry point's ee.entry record in module order and the plans;
// the declarations and those attributes are gone afterwards.
// CHECK: module {
// CHECK-NOT: ee.parameter
// CHECK-LABEL: func.func @ee_forward(
// CHECK-NOT: ee.entry
// CHECK: func.func @ee_loss(
// CHECK-NOT: ee.entry
// CHECK: llvm.mlir.global external constant @ee_manifest(
// CHECK-SAME: {\22config\22:{
// CHECK-SAME: \22hidden_size\22:8,
// CHECK-SAME: \22data_parallel\22:{\22bucket_size\22:40,\22distributed_optimizer\22:true}
// CHECK-SAME: \22entries\22:[{\22fixed_bytes\22:64,\22inputs\22:[{\22kind\22:\22tokens\22}],\22name\22:\22forward\22,\22outputs\22:[{\22features\22:32,\22kind\22:\22activation\22}],\22per_token_bytes\22:128,\22symbol\22:\22ee_forward\22},{{.*}}\22name\22:\22loss\22
// CHECK-SAME: \22parameters\22:[{\22dtype\22:\22F32\22,\22name\22:\22model.embed_tokens.weight\22,\22shape\22:[32,8]},{\22dtype\22:\22F32\22,\22name\22:\22model.norm.weight\22,\22shape\22:[8]}]
// The pipeline plan's schedule is flattened into it; each stage lists its heads.
// CHECK-SAME: \22pipeline\22:{\22bubble_fraction\22:0.25,\22filled_microbatches\22:0,\22makespan_flops\22:8,\22micro_batch\22:1,\22microbatches\22:1,\22plain_bubble_fraction\22:0.5,\22schedule\22:{{\[\[}}\22F0\22,\22B0\22],[\22F0\22,\22B0\22]],\22seq_len\22:4,
// CHECK-SAME: \22stages\22:[{\22activation_bytes\22:3,\22begin_layer\22:0,\22embedding\22:true,\22end_layer\22:1,\22exits\22:[0],\22final_head\22:false,\22flops_per_token\22:1.5,\22grad_step\22:\22stage0_grad_step\22,\22heads\22:[],\22loss_function\22:\22stage0_loss\22,\22parameter_bytes\22:2,\22train_step\22:\22stage0_train_step\22,\22update_step\22:\22stage0_update_step\22},
// CHECK-SAME: \22heads\22:[0,1],
// CHECK-SAME: \22tied\22:[{\22parameter\22:\22model.embed_tokens.weight\22,\22stages\22:[0,1]}]},\22tensor_parallel\22:{\22size\22:2,\22split_dims\22:{\22model.embed_tokens.weight\22:0}}
// CHECK-SAME: }\00")
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>,
                   ee.data_parallel = #ee.data_parallel<bucket_size = 40, distributed_optimizer = true>,
                   ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {model.embed_tokens.weight = 0 : i64}>,
                   ee.pipeline = #ee.pipeline<seq_len = 4, micro_batch = 1, microbatches = 1,
                       stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [0], embedding = true, final_head = false, flops_per_token = 1.5, parameter_bytes = 2.0, activation_bytes = 3.0, loss_function = "stage0_loss", train_step = "stage0_train_step", grad_step = "stage0_grad_step", update_step = "stage0_update_step">,
                                 #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 2.0, activation_bytes = 3.0, loss_function = "stage1_loss", heads = [0, 1], train_step = "stage1_train_step", grad_step = "stage1_grad_step", update_step = "stage1_update_step">],
                       tied = [#ee.tied_parameter<parameter = "model.embed_tokens.weight", stages = [0, 1]>],
                       schedule = #ee.pipeline_schedule<order = [["F0", "B0"], ["F0", "B0"]], bubble_fraction = 0.25, plain_bubble_fraction = 0.5, filled_microbatches = 0, makespan_flops = 8.0>>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  ee.parameter @model.norm.weight : tensor<8xf32>
  func.func @ee_forward(%params: !llvm.ptr, %arena: !llvm.ptr, %batch: i64, %seq: i64, %in: !llvm.ptr, %out: !llvm.ptr) -> i32
      attributes {ee.entry = {fixed_bytes = 64 : i64, inputs = [{kind = "tokens"}], name = "forward",
                              outputs = [{features = 32 : i64, kind = "activation"}], per_token_bytes = 128 : i64,
                              symbol = "ee_forward"}} {
    %ok = arith.constant 0 : i32
    return %ok : i32
  }
  func.func @ee_loss(%params: !llvm.ptr, %arena: !llvm.ptr, %batch: i64, %seq: i64, %in: !llvm.ptr, %out: !llvm.ptr) -> i32
      attributes {ee.entry = {fixed_bytes = 128 : i64, inputs = [{kind = "tokens"}, {kind = "tokens"}], name = "loss",
                              outputs = [{kind = "f32"}], per_token_bytes = 64 : i64, symbol = "ee_loss"}} {
    %ok = arith.constant 0 : i32
    return %ok : i32
  }
}

// -----

// bf16 weights (ee-mixed-precision): the parameters say BF16, and the
// exported config's torch_dtype is bfloat16.
// CHECK: llvm.mlir.global external constant @ee_manifest(
// CHECK-SAME: \22torch_dtype\22:\22bfloat16\22
// CHECK-SAME: \22parameters\22:[{\22dtype\22:\22BF16\22,\22name\22:\22model.embed_tokens.weight\22,\22shape\22:[32,8]},{\22dtype\22:\22BF16\22,\22name\22:\22model.norm.weight\22,\22shape\22:[8]}]
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xbf16>
  ee.parameter @model.norm.weight : tensor<8xbf16>
}

// -----

// expected-error @+1 {{ee-emit-manifest needs the module's 'ee.config'}}
module {
  ee.parameter @w : tensor<8xf32>
}
