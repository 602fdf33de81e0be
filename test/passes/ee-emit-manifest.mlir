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
// CHECK-SAME: \22parameters\22:[{\22name\22:\22model.embed_tokens.weight\22,\22shape\22:[32,8]},{\22name\22:\22model.norm.weight\22,\22shape\22:[8]}]
// CHECK-SAME: \22pipeline\22:{\22stages\22:[{\22begin_layer\22:0}]},\22tensor_parallel\22:{\22size\22:2,\22split_dims\22:{\22model.embed_tokens.weight\22:0}}
// CHECK-SAME: }\00")
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>,
                   ee.data_parallel = #ee.data_parallel<bucket_size = 40, distributed_optimizer = true>,
                   ee.tensor_parallel = #ee.tensor_parallel<size = 2, split_dims = {model.embed_tokens.weight = 0 : i64}>,
                   ee.pipeline = {stages = [{begin_layer = 0 : i64}]}} {
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

// expected-error @+1 {{ee-emit-manifest needs the module's 'ee.config'}}
module {
  ee.parameter @w : tensor<8xf32>
}
