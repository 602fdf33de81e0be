// RUN: ee-opt %s -ee-kv-cache -split-input-file -verify-diagnostics | FileCheck %s

// forward_kv: every attention reads and extends a cache of max_position_embeddings
// rows, taking the positions of the query's rotary embedding; the updated caches
// follow the original results. forward itself is kept.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @forward(
  // CHECK: ee.attention %{{.*}} heads 2 kv_heads 1 : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  // CHECK-LABEL: func.func @forward_kv(
  // CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x8xf32>, %[[K:[^:]*]]: tensor<?x?x4xf32>, %[[POS:[^:]*]]: tensor<?x?xi32>,
  // CHECK-SAME: %[[KC:[^:]*]]: tensor<?x64x4xf32>, %[[VC:[^:]*]]: tensor<?x64x4xf32>)
  // CHECK-SAME: -> (tensor<?x?x8xf32>, tensor<?x64x4xf32>, tensor<?x64x4xf32>)
  // CHECK: %[[QR:.*]] = ee.rotary %[[Q]], %[[POS]]
  // CHECK: %[[KR:.*]] = ee.rotary %[[K]], %[[POS]]
  // CHECK: %[[O:.*]], %[[KC2:.*]]:2 = ee.attention %[[QR]], %[[KR]], %[[K]] cache(%[[KC]], %[[VC]]) positions(%[[POS]]) heads 2 kv_heads 1
  // CHECK: return %[[O]], %[[KC2]]#0, %[[KC2]]#1
  func.func @forward(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %pos: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
    %qr = ee.rotary %q, %pos heads 2 theta 10000.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
    %kr = ee.rotary %k, %pos heads 1 theta 10000.0 : tensor<?x?x4xf32>, tensor<?x?xi32>
    %o = ee.attention %qr, %kr, %k heads 2 kv_heads 1
        : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
    return %o : tensor<?x?x8xf32>
  }
}

// -----

// The positions come from the query's rotary embedding.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  func.func @forward(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
    // expected-error @+1 {{ee-kv-cache needs the query's rotary embedding for positions}}
    %o = ee.attention %q, %k, %k heads 2 kv_heads 1
        : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
    return %o : tensor<?x?x8xf32>
  }
}

// -----

// expected-error @+1 {{ee-kv-cache needs the module's 'ee.config'}}
module {
}

// -----

// expected-error @+1 {{ee-kv-cache: no function 'forward'}}
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
}

// -----

// A function marked ee.kv_cache (as ee-generate-inference makes them) is
// converted in place, its attentions indexing the caches by the marked rows
// argument; the marker is dropped.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @gen_segment_0(
  // CHECK-SAME: %[[Q:[^:]*]]: tensor<?x?x8xf32>, %[[K:[^:]*]]: tensor<?x?x4xf32>, %[[POS:[^:]*]]: tensor<?x?xi32>, %[[ROWS:[^:]*]]: tensor<?x?xi32>,
  // CHECK-SAME: %[[KC:[^:]*]]: tensor<?x64x4xf32>, %[[VC:[^:]*]]: tensor<?x64x4xf32>)
  // CHECK-NOT: ee.kv_cache
  // CHECK: ee.attention %{{.*}} cache(%[[KC]], %[[VC]]) positions(%[[POS]]) rows(%[[ROWS]]) heads 2 kv_heads 1
  // CHECK-NOT: func.func @gen_segment_0_kv
  func.func @gen_segment_0(%q: tensor<?x?x8xf32>, %k: tensor<?x?x4xf32>, %pos: tensor<?x?xi32>, %rows: tensor<?x?xi32>) -> tensor<?x?x8xf32> attributes {ee.kv_cache = 3 : i64} {
    %qr = ee.rotary %q, %pos heads 2 theta 10000.0 : tensor<?x?x8xf32>, tensor<?x?xi32>
    %kr = ee.rotary %k, %pos heads 1 theta 10000.0 : tensor<?x?x4xf32>, tensor<?x?xi32>
    %o = ee.attention %qr, %kr, %k heads 2 kv_heads 1
        : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
    return %o : tensor<?x?x8xf32>
  }
  func.func @forward(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
    return %x : tensor<?x?x8xf32>
  }
}
