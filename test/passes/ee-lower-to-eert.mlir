// RUN: ee-opt %s -ee-lower-to-eert -split-input-file -verify-diagnostics | FileCheck %s

// Buffers at tokens * per-token offsets, reused once dead; weights from
// params[i]; inputs and outputs through pointer arrays; failing calls branch to
// a block returning their status; the manifest records it all.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @emb : tensor<32x8xf32>
  ee.parameter @norm : tensor<8xf32>
  // CHECK-NOT: ee.parameter
  // CHECK-LABEL: func.func @ee_forward(
  // CHECK-SAME: %[[PARAMS:.*]]: !llvm.ptr, %[[ARENA:.*]]: !llvm.ptr, %[[B:.*]]: i64, %[[S:.*]]: i64, %[[IN:.*]]: !llvm.ptr, %[[OUT:.*]]: !llvm.ptr) -> i32
  // CHECK: %[[T:.*]] = arith.muli %[[B]], %[[S]] : i64
  // CHECK: %[[IDS_SLOT:.*]] = llvm.getelementptr %[[IN]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
  // CHECK: %[[IDS:.*]] = llvm.load %[[IDS_SLOT]] : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[EMB_SLOT:.*]] = llvm.getelementptr %[[PARAMS]][0]
  // CHECK: %[[EMB:.*]] = llvm.load %[[EMB_SLOT]]
  // The embedding output sits at per-token offset 0 ...
  // CHECK: %[[OFF0:.*]] = arith.muli %[[T]], %{{.*}} : i64
  // CHECK: %[[X:.*]] = llvm.getelementptr %[[ARENA]][%[[OFF0]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
  // CHECK: %[[STATUS:.*]] = eert.embedding_lookup %[[EMB]], %[[IDS]], %[[X]], %[[T]], %{{.*}}, %{{.*}} : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64) -> i32
  // CHECK: cf.cond_br %{{.*}}, ^[[OK:.*]], ^[[FAIL:.*]](%[[STATUS]] : i32)
  // CHECK: ^[[OK]]:
  // CHECK: eert.rms_norm %[[X]], %{{.*}}, %[[N:.*]], %[[T]]
  // CHECK: eert.linear %[[N]], %[[EMB]], %[[L:.*]], %[[T]]
  // CHECK: %[[OUT_SLOT:.*]] = llvm.getelementptr %[[OUT]][0]
  // CHECK: llvm.store %[[L]], %[[OUT_SLOT]]
  // CHECK: return %{{.*}} : i32
  // CHECK: ^[[FAIL]](%[[CODE:.*]]: i32):
  // CHECK: return %[[CODE]] : i32
  // CHECK: llvm.mlir.global external constant @ee_manifest
  // x: 32 bytes/token at 0; the norm at 64 (x still live); the logits (128 bytes)
  // at 128 since x and the norm are both live when they are produced.
  // CHECK-SAME: \22per_token_bytes\22:256
  // CHECK-SAME: \22name\22:\22emb\22,\22shape\22:[32,8]
  func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x32xf32> {
    %e = ee.get_parameter @emb : tensor<32x8xf32>
    %x = ee.embedding_lookup %e, %ids : tensor<32x8xf32>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %w = ee.get_parameter @norm : tensor<8xf32>
    %n = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    %l = ee.logits %n, %e : tensor<?x?x8xf32>, tensor<32x8xf32> -> tensor<?x?x32xf32>
    return %l : tensor<?x?x32xf32>
  }
}

// -----

// Dead buffers are reused: c reuses a's slot once a is dead.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @ee_chain(
  // CHECK: eert.add %{{.*}}, %{{.*}}, %[[A:[^,]*]], %{{.*}}
  // CHECK: eert.add %[[A]], %[[A]], %[[B:[^,]*]], %{{.*}}
  // CHECK: eert.add %[[B]], %[[B]], %{{[^,]*}}, %{{.*}}
  // Three 64-byte-per-token values in two slots.
  // CHECK: \22per_token_bytes\22:128
  func.func @chain(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
    %a = ee.add %x, %x : tensor<?x?x8xf32>
    %b = ee.add %a, %a : tensor<?x?x8xf32>
    %c = ee.add %b, %b : tensor<?x?x8xf32>
    return %c : tensor<?x?x8xf32>
  }
}

// -----

// The objective: scalar arithmetic stays, loss weights become arithmetic on
// the iteration, scalar results are stored in fixed slots.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @ee_loss(
  // CHECK: %[[ITER:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
  // CHECK: %[[CE:.*]] = eert.cross_entropy %{{.*}}, %{{.*}}, %[[SLOT:.*]], %{{.*}}, %{{.*}}, %{{.*}} : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> i32
  // CHECK: %[[LOSS:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> f32
  // CHECK: arith.sitofp %[[ITER]] : i64 to f64
  // CHECK: math.cos
  // CHECK: %[[W:.*]] = arith.truncf %{{.*}} : f64 to f32
  // CHECK: %[[R:.*]] = arith.mulf %[[W]], %[[LOSS]] : f32
  // CHECK: llvm.store %[[R]], %{{.*}} : f32, !llvm.ptr
  // CHECK: \22inputs\22:[{\22features\22:32,\22kind\22:\22activation\22}
  func.func @loss(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
    %ce = ee.cross_entropy %l, %t temperature 1.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
    %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 10, style = cosine>
    %r = arith.mulf %w, %ce : f32
    return %r : f32
  }
}

// -----

module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  func.func private @helper(tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  func.func @caller(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
    // expected-error @+1 {{'func.call' op cannot be lowered to runtime calls (ee-lower-to-eert needs expanded, inlined functions of primitive ee ops)}}
    %y = func.call @helper(%x) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
    return %y : tensor<?x?x8xf32>
  }
}

// -----

// expected-error @+1 {{ee-lower-to-eert needs the module's 'ee.config'}}
module {
}
