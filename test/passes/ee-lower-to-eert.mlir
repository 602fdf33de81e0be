// RUN: ee-opt %s -ee-plan-memory -ee-lower-to-eert -cse -split-input-file -verify-diagnostics | FileCheck %s
// Without ee-plan-memory's plan nothing is lowered.
// RUN: not ee-opt %s -ee-lower-to-eert -split-input-file 2>&1 | FileCheck %s --check-prefix=NOPLAN
// NOPLAN: error: ee-lower-to-eert needs the function's memory plan (run ee-plan-memory first)

// Buffers at tokens * per-token offsets, reused once dead; weights from
// params[i]; inputs and outputs through pointer arrays; failing calls branch to
// a block returning their status; the entry's manifest record (ee.entry) says
// it all. The declarations stay for ee-emit-manifest.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @emb : tensor<32x8xf32>
  ee.parameter @norm : tensor<8xf32>
  // CHECK: ee.parameter @emb : tensor<32x8xf32>
  // CHECK-LABEL: func.func @ee_forward(
  // CHECK-SAME: %[[PARAMS:[^:]*]]: !llvm.ptr, %[[ARENA:[^:]*]]: !llvm.ptr, %[[B:[^:]*]]: i64, %[[S:[^:]*]]: i64, %[[IN:[^:]*]]: !llvm.ptr, %[[OUT:[^:]*]]: !llvm.ptr) -> i32
  // x: 32 bytes/token at 0; the norm at 64 (x still live); the logits (128 bytes)
  // at 128 since x and the norm are both live when they are produced.
  // CHECK-SAME: attributes {ee.entry = {fixed_bytes = 64 : i64, inputs = [{kind = "tokens"}], name = "forward", outputs = [{features = 32 : i64, kind = "activation"}], per_token_bytes = 256 : i64, symbol = "ee_forward"}}
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
  // Three 64-byte-per-token values in two slots.
  // CHECK-SAME: per_token_bytes = 128 : i64
  // CHECK: eert.add %{{.*}}, %{{.*}}, %[[A:[^,]*]], %{{.*}}
  // CHECK: eert.add %[[A]], %[[A]], %[[B:[^,]*]], %{{.*}}
  // CHECK: eert.add %[[B]], %[[B]], %{{[^,]*}}, %{{.*}}
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
  // CHECK-SAME: inputs = [{features = 32 : i64, kind = "activation"}, {kind = "tokens"}, {kind = "i64"}]
  // CHECK: %[[ITER:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
  // CHECK: %[[CE:.*]] = eert.cross_entropy %{{.*}}, %{{.*}}, %[[SLOT:.*]], %{{.*}}, %{{.*}}, %{{.*}} : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> i32
  // CHECK: %[[LOSS:.*]] = eert.memory_load_f32 %[[SLOT]] : (!llvm.ptr) -> f32
  // CHECK: arith.sitofp %[[ITER]] : i64 to f64
  // CHECK: math.cos
  // CHECK: %[[W:.*]] = arith.truncf %{{.*}} : f64 to f32
  // CHECK: %[[R:.*]] = arith.mulf %[[W]], %[[LOSS]] : f32
  // CHECK: eert.memory_store_f32 %{{.*}}, %[[R]] : (!llvm.ptr, f32) -> ()
  // CHECK-NOT: llvm.store {{.*}} : f32
  func.func @loss(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>, %i: i64) -> f32 {
    %ce = ee.cross_entropy %l, %t temperature 1.0 : tensor<?x?x32xf32>, tensor<?x?xi32>
    %w = ee.loss_weight %i schedule #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 10, style = cosine>
    %r = arith.mulf %w, %ce : f32
    return %r : f32
  }
}

// -----

// Pipeline traffic: a receive posts into the buffer its wait yields, a send
// keeps its tensor's slot until the send's wait, peers are the pipeline
// group's ranks, tags start at 1000; spans are numbered in the manifest.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @ee_step(
  // CHECK-SAME: spans = [{category = "backward", name = "B3"}]
  // CHECK: %[[PREV:.*]] = eert.comm_group_peer %{{.*}}, %{{.*}} : (i64, i64) -> i32
  // CHECK: %[[PEER:.*]] = arith.extsi %[[PREV]]
  // CHECK: eert.comm_irecv %[[X:[^,]*]], %{{[^,]*}}, %[[PEER]], %c1003_i64, %[[REQ:[^ ]*]] :
  // CHECK: eert.trace_begin %c0_i64
  // CHECK: eert.comm_wait %[[REQ]]
  // CHECK: eert.memory_zero %[[Z:[^,]*]], %{{[^ ]*}} : (!llvm.ptr, i64) -> ()
  // CHECK: eert.add %[[X]], %[[Z]], %[[Y:[^,]*]],
  // CHECK: eert.comm_isend %[[Y]], %{{[^,]*}}, %{{[^,]*}}, %c1003_i64{{[_0-9]*}}, %[[SENT:[^ ]*]] :
  // The sum reuses the zeros' slot, not the one still being sent.
  // CHECK: eert.add %[[X]], %[[X]], %[[T:[^,]*]],
  // CHECK-NOT: %[[Y]]
  // CHECK: eert.comm_wait %[[SENT]]
  // CHECK: eert.trace_end
  func.func @step(%ids: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %b = tensor.dim %ids, %c0 : tensor<?x?xi32>
    %s = tensor.dim %ids, %c1 : tensor<?x?xi32>
    %r = ee.recv from -1 tag 3 shape(%b, %s) : !ee.request<tensor<?x?x8xf32>>
    ee.span_begin "B3" category "backward"
    %x = ee.wait %r : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
    %z = ee.zeros shape(%b, %s) : tensor<?x?x8xf32>
    %y = ee.add %x, %z : tensor<?x?x8xf32>
    %sent = ee.send %y to -1 tag 3 : tensor<?x?x8xf32> -> !ee.request
    %t = ee.add %x, %x : tensor<?x?x8xf32>
    ee.wait %sent : !ee.request
    ee.span_end "B3"
    return %t : tensor<?x?x8xf32>
  }
}

// -----

// Weight-shaped values are freed after their last read like activations:
// four 4 KiB values in two fixed slots (each reuses the one before last).
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @ee_accumulate(
  // CHECK-SAME: fixed_bytes = 8256 : i64
  // CHECK: eert.add %[[D:[^,]*]], %[[D]], %[[A:[^,]*]], %c1024_i64
  // CHECK: eert.add %[[A]], %[[A]], %[[B:[^,]*]], %c1024_i64
  // CHECK: eert.scale %[[B]],
  // Two slots and the returned pointer's.
  func.func @accumulate(%g0: tensor<?x?x8xf32>, %ids: tensor<?x?xi32>, %scale: f32) -> tensor<32x32xf32> {
    %d0 = ee.embedding_grad %ids, %g0 vocab_parallel : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<32x32xf32>
    %s1 = ee.add %d0, %d0 : tensor<32x32xf32>
    %s2 = ee.add %s1, %s1 : tensor<32x32xf32>
    %r = ee.scale %s2, %scale : tensor<32x32xf32>
    return %r : tensor<32x32xf32>
  }
}

// -----

// A data-parallel update: a gradient's all-reduce sums its own buffer (the
// sum lives in the gradient's slot until its last read), a scalar is summed
// in its wait's slot, ee.adamw updates the parameter through the params table
// with the moments of the optimizer-state input (after the function's own),
// and the manifest lists what the function updates.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  // CHECK-LABEL: func.func @ee_update(
  // CHECK-SAME: %[[PARAMS:[^:]*]]: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: i64, %{{[^:]*}}: i64, %[[INPUTS:[^:]*]]: !llvm.ptr
  // CHECK-SAME: {kind = "optimizer_state"}]
  // CHECK-SAME: updates = ["model.embed_tokens.weight"]
  // CHECK: %[[SLOT:.*]] = llvm.getelementptr %[[INPUTS]][8]
  // CHECK: %[[STATE:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> !llvm.ptr
  // CHECK: eert.embedding_backward %{{[^,]*}}, %{{[^,]*}}, %[[G:[^,]*]],
  // CHECK: eert.comm_iall_reduce %[[G]], %c256_i64, %c3_i64, %[[REQ:[^ ]*]] :
  // CHECK: eert.comm_wait %[[REQ]]
  // CHECK: eert.inner_product %[[G]], %[[G]], %[[SQ:[^,]*]],
  // CHECK: %[[SQV:.*]] = eert.memory_load_f32 %[[SQ]] : (!llvm.ptr) -> f32
  // CHECK: eert.memory_store_f32 %[[SUM:[^,]*]], %[[SQV]] : (!llvm.ptr, f32) -> ()
  // CHECK: eert.comm_iall_reduce %[[SUM]], %c1_i64, %c2_i64, %[[REQ2:[^ ]*]] :
  // CHECK: eert.comm_wait %[[REQ2]]
  // CHECK: %[[TOTAL:.*]] = eert.memory_load_f32 %[[SUM]] : (!llvm.ptr) -> f32
  // CHECK: %[[NORM:.*]] = math.sqrt %[[TOTAL]] : f32
  // CHECK: %[[PSLOT:.*]] = llvm.getelementptr %[[PARAMS]][0]
  // CHECK: %[[P:.*]] = llvm.load %[[PSLOT]]
  // CHECK: %[[MSLOT:.*]] = llvm.getelementptr %[[STATE]][0]
  // CHECK: %[[M:.*]] = llvm.load %[[MSLOT]]
  // CHECK: %[[VSLOT:.*]] = llvm.getelementptr %[[STATE]][1]
  // CHECK: %[[V:.*]] = llvm.load %[[VSLOT]]
  // CHECK: eert.adamw %[[P]], %[[G]], %[[M]], %[[V]], %c256_i64{{[_0-9]*}}, %[[NORM]],
  func.func @update(%g0: tensor<?x?x8xf32>, %ids: tensor<?x?xi32>, %lr: f32, %step: i64, %b1: f32, %b2: f32, %eps: f32, %wd: f32) -> f32 {
    %d = ee.embedding_grad %ids, %g0 : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<32x8xf32>
    %r = ee.all_reduce_start %d over dp : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    %sum = ee.wait %r : !ee.request<tensor<32x8xf32>> -> tensor<32x8xf32>
    %sq = ee.inner_product %sum, %sum : tensor<32x8xf32>
    %rn = ee.all_reduce_start %sq over pp : f32 -> !ee.request<f32>
    %total = ee.wait %rn : !ee.request<f32> -> f32
    %norm = math.sqrt %total : f32
    ee.adamw @model.embed_tokens.weight, %sum lr %lr step %step scale %norm beta1 %b1 beta2 %b2 eps %eps weight_decay %wd : tensor<32x8xf32>
    return %norm : f32
  }
}

// -----

// ZeRO-1: the reduce-scatter sums the gradient's own buffer and its block is
// this rank's part of it (begin = min(n, rank * ceil(n / size))); the
// block's squares, the update of the parameter's block with the block's
// moments, and the all-gather of the parameter in place.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xf32>
  // CHECK-LABEL: func.func @ee_update(
  // CHECK-SAME: %[[PARAMS:[^:]*]]: !llvm.ptr,
  // CHECK: %[[RANK32:.*]] = eert.comm_group_rank %c3_i64
  // CHECK: %[[RANK:.*]] = arith.extsi %[[RANK32]]
  // CHECK: %[[SIZE32:.*]] = eert.comm_group_size %c3_i64
  // CHECK: %[[SIZE:.*]] = arith.extsi %[[SIZE32]]
  // CHECK: eert.embedding_backward %{{[^,]*}}, %{{[^,]*}}, %[[G:[^,]*]],
  // CHECK: eert.comm_ireduce_scatter %[[G]], %c256_i64{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %[[REQ:[^ ]*]] :
  // CHECK: eert.comm_wait %[[REQ]]
  // What the wait delivers is this rank's block of the sum.
  // CHECK: %[[C1:.*]] = arith.subi %[[SIZE]], %c1_i64
  // CHECK: %[[C2:.*]] = arith.addi %c256_i64{{[_0-9]*}}, %[[C1]]
  // CHECK: %[[C:.*]] = arith.divsi %[[C2]], %[[SIZE]]
  // CHECK: %[[RC:.*]] = arith.muli %[[RANK]], %[[C]]
  // CHECK: %[[BEGIN:.*]] = arith.minsi %c256_i64{{[_0-9]*}}, %[[RC]]
  // CHECK: %[[END1:.*]] = arith.addi %[[BEGIN]], %[[C]]
  // CHECK: %[[END:.*]] = arith.minsi %c256_i64{{[_0-9]*}}, %[[END1]]
  // CHECK: %[[BYTES:.*]] = arith.muli %[[BEGIN]], %c4_i64
  // CHECK: %[[BLOCK:.*]] = llvm.getelementptr %[[G]][%[[BYTES]]]
  // CHECK: %[[COUNT:.*]] = arith.subi %[[END]], %[[BEGIN]]
  // CHECK: eert.inner_product %[[BLOCK]], %[[BLOCK]], %{{[^,]*}}, %[[COUNT]]
  // CHECK: eert.comm_iall_reduce %{{[^,]*}}, %c1_i64{{[_0-9]*}}, %c3_i64
  // CHECK: %[[PSLOT:.*]] = llvm.getelementptr %[[PARAMS]][0]
  // CHECK: %[[P:.*]] = llvm.load %[[PSLOT]]
  // CHECK: %[[PBLOCK:.*]] = llvm.getelementptr %[[P]][%[[BYTES]]]
  // CHECK: eert.adamw %[[PBLOCK]], %[[BLOCK]], %{{[^,]*}}, %{{[^,]*}}, %[[COUNT]],
  // CHECK: %[[P2:.*]] = llvm.load %[[PSLOT]]
  // CHECK: eert.comm_iall_gather %[[P2]], %c256_i64{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %[[GREQ:[^ ]*]] :
  // CHECK: eert.comm_wait %[[GREQ]]
  func.func @update(%g0: tensor<?x?x8xf32>, %ids: tensor<?x?xi32>, %lr: f32, %step: i64, %b1: f32, %b2: f32, %eps: f32, %wd: f32) -> f32 {
    %d = ee.embedding_grad %ids, %g0 : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<32x8xf32>
    %r = ee.reduce_scatter_start %d over dp : tensor<32x8xf32> -> !ee.request<tensor<?xf32>>
    %block = ee.wait %r : !ee.request<tensor<?xf32>> -> tensor<?xf32>
    %sq = ee.inner_product %block, %block : tensor<?xf32>
    %rn = ee.all_reduce_start %sq over dp : f32 -> !ee.request<f32>
    %total = ee.wait %rn : !ee.request<f32> -> f32
    %norm = math.sqrt %total : f32
    ee.adamw @model.embed_tokens.weight, %block lr %lr step %step scale %norm beta1 %b1 beta2 %b2 eps %eps weight_decay %wd dp_shard : tensor<?xf32>
    %gather = ee.all_gather_parameter_start @model.embed_tokens.weight over dp : !ee.request
    ee.wait %gather : !ee.request
    return %norm : f32
  }
}

// -----

// ZeRO-1 with a bf16 parameter: the block update offsets the bf16 weight by
// 2 bytes an element and its fp32 master (optimizer-state slot 2) by 4; the
// all-gather collects the masters, which are then rounded whole into the
// weight.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @model.embed_tokens.weight : tensor<32x8xbf16>
  // CHECK-LABEL: func.func @ee_update_bf16(
  // CHECK-SAME: %[[PARAMS:[^:]*]]: !llvm.ptr,
  // CHECK: %[[BEGIN:.*]] = arith.minsi %c256_i64{{[_0-9]*}}, %{{.*}}
  // CHECK: %[[FOURS:.*]] = arith.muli %[[BEGIN]], %c4_i64
  // CHECK: %[[PSLOT:.*]] = llvm.getelementptr %[[PARAMS]][0]
  // CHECK: %[[P:.*]] = llvm.load %[[PSLOT]]
  // CHECK: %[[MSLOT:.*]] = llvm.getelementptr %[[STATE:[0-9]+]][2]
  // CHECK: %[[M:.*]] = llvm.load %[[MSLOT]]
  // CHECK: %[[TWOS:.*]] = arith.muli %[[BEGIN]], %c2_i64
  // CHECK: %[[PBLOCK:.*]] = llvm.getelementptr %[[P]][%[[TWOS]]]
  // CHECK: %[[MBLOCK:.*]] = llvm.getelementptr %[[M]][%[[FOURS]]]
  // CHECK: eert.adamw_bf16 %[[PBLOCK]], %[[MBLOCK]],
  // CHECK: %[[M2:.*]] = llvm.load %[[MSLOT]]
  // CHECK: eert.comm_iall_gather %[[M2]], %c256_i64{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %[[GREQ:[^ ]*]] :
  // CHECK: eert.comm_wait %[[GREQ]]
  // CHECK: %[[P3:.*]] = llvm.load %[[PSLOT]]
  // CHECK: %[[M3:.*]] = llvm.load %[[MSLOT]]
  // CHECK: eert.to_bf16 %[[M3]], %[[P3]], %c256_i64
  func.func @update_bf16(%g0: tensor<?x?x8xf32>, %ids: tensor<?x?xi32>, %lr: f32, %step: i64, %b1: f32, %b2: f32, %eps: f32, %wd: f32) -> f32 {
    %d = ee.embedding_grad %ids, %g0 : tensor<?x?xi32>, tensor<?x?x8xf32> -> tensor<32x8xf32>
    %r = ee.reduce_scatter_start %d over dp : tensor<32x8xf32> -> !ee.request<tensor<?xf32>>
    %block = ee.wait %r : !ee.request<tensor<?xf32>> -> tensor<?xf32>
    %sq = ee.inner_product %block, %block : tensor<?xf32>
    %rn = ee.all_reduce_start %sq over dp : f32 -> !ee.request<f32>
    %total = ee.wait %rn : !ee.request<f32> -> f32
    %norm = math.sqrt %total : f32
    ee.adamw @model.embed_tokens.weight, %block lr %lr step %step scale %norm beta1 %b1 beta2 %b2 eps %eps weight_decay %wd dp_shard : tensor<?xf32>
    %gather = ee.all_gather_parameter_start @model.embed_tokens.weight over dp : !ee.request
    ee.wait %gather : !ee.request
    return %norm : f32
  }
}

// -----

// bf16 kernels chosen by element type in the forward pass: the lookup of a
// bf16 table (plain and vocab-parallel), the norm with a bf16 result, the
// products of bf16 factors (linear and logits), SwiGLU with a bf16 result, the
// norm with a bf16 weight and an f32 result, and both directions of
// ee.convert. tp_copy copies its bf16 bytes (2 per element) through the
// backend (eert_memory_copy: compiled code never touches arena memory itself).
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @emb : tensor<32x8xbf16>
  ee.parameter @norm : tensor<8xbf16>
  ee.parameter @up : tensor<16x8xbf16>
  ee.parameter @down : tensor<8x16xbf16>
  // CHECK-LABEL: func.func @ee_forward_bf16(
  // CHECK-SAME: %[[PARAMS:[^:]*]]: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %[[B:[^:]*]]: i64, %[[S:[^:]*]]: i64,
  // CHECK: %[[T:.*]] = arith.muli %[[B]], %[[S]] : i64
  // CHECK: %[[IDS:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[EMB:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[X:.*]] = llvm.getelementptr
  // CHECK: eert.embedding_lookup_bf16 %[[EMB]], %[[IDS]], %[[X]], %[[T]], %c32_i64, %c8_i64 :
  // CHECK: eert.embedding_lookup_parallel_bf16 %[[EMB]], %[[IDS]], %{{[^,]*}}, %[[T]], %c32_i64, %c8_i64, %c1_i64 :
  // CHECK: %[[G:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: eert.rms_norm_bf16 %[[X]], %[[G]], %[[N:[^,]*]], %[[T]], %c8_i64,
  // CHECK: %[[ELEMS:.*]] = arith.muli %[[T]], %c8_i64 : i64
  // CHECK: %[[BYTES:.*]] = arith.muli %[[ELEMS]], %c2_i64 : i64
  // CHECK: eert.memory_copy %[[C:[^,]*]], %[[N]], %[[BYTES]] : (!llvm.ptr, !llvm.ptr, i64) -> ()
  // CHECK: eert.linear_bf16_f32 %[[C]], %{{[^,]*}}, %[[U:[^,]*]], %[[T]], %c8_i64, %c16_i64 :
  // CHECK: %[[UELEMS:.*]] = arith.muli %[[T]], %c16_i64 : i64
  // CHECK: eert.swiglu_bf16 %[[U]], %[[U]], %[[SW:[^,]*]], %[[UELEMS]] :
  // CHECK: eert.linear_bf16_f32 %[[SW]], %{{[^,]*}}, %[[D:[^,]*]], %[[T]], %c16_i64, %c8_i64 :
  // CHECK: eert.add %[[X]], %[[D]], %[[H:[^,]*]], %[[ELEMS]] :
  // CHECK: eert.rms_norm_bf16_f32 %[[H]], %[[G]], %[[M:[^,]*]], %[[T]], %c8_i64,
  // CHECK: eert.to_bf16 %[[M]], %[[MB:[^,]*]], %[[ELEMS]] :
  // CHECK: eert.linear_bf16_f32 %[[MB]], %[[EMB]], %{{[^,]*}}, %[[T]], %c8_i64, %c32_i64 :
  // CHECK: eert.from_bf16 %[[MB]], %{{[^,]*}}, %[[ELEMS]] :
  func.func @forward_bf16(%ids: tensor<?x?xi32>)
      -> (tensor<?x?x32xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
    %e = ee.get_parameter @emb : tensor<32x8xbf16>
    %x = ee.embedding_lookup %e, %ids : tensor<32x8xbf16>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %xp = ee.embedding_lookup %e, %ids vocab_parallel : tensor<32x8xbf16>, tensor<?x?xi32> -> tensor<?x?x8xf32>
    %g = ee.get_parameter @norm : tensor<8xbf16>
    %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<?x?x8xbf16>
    %c = ee.tp_copy %n : tensor<?x?x8xbf16>
    %wu = ee.get_parameter @up : tensor<16x8xbf16>
    %u = ee.linear %c, %wu : tensor<?x?x8xbf16>, tensor<16x8xbf16> -> tensor<?x?x16xf32>
    %s = ee.swiglu %u, %u : tensor<?x?x16xf32> -> tensor<?x?x16xbf16>
    %wd = ee.get_parameter @down : tensor<8x16xbf16>
    %d = ee.linear %s, %wd : tensor<?x?x16xbf16>, tensor<8x16xbf16> -> tensor<?x?x8xf32>
    %h = ee.add %x, %d : tensor<?x?x8xf32>
    %m = ee.rms_norm %h, %g eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16>
    %mb = ee.convert %m : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
    %l = ee.logits %mb, %e : tensor<?x?x8xbf16>, tensor<32x8xbf16> -> tensor<?x?x32xf32>
    %back = ee.convert %mb : tensor<?x?x8xbf16> -> tensor<?x?x8xf32>
    return %l, %back, %xp : tensor<?x?x32xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  }
}

// -----

// The backward products of a bf16 output gradient, the norm backward with a
// bf16 weight, and AdamW on a bf16 parameter: the parameter, then its fp32
// master (optimizer state 3i+2), the gradient, the moments (3i, 3i+1). The
// state table has three entries per parameter, of fp32 ones too: the fp32
// parameter 2 has its moments at 6 and 7.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  ee.parameter @model.layers.0.input_layernorm.weight : tensor<8xbf16>
  ee.parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xbf16>
  ee.parameter @model.norm.weight : tensor<8xf32>
  // CHECK-LABEL: func.func @ee_update_bf16(
  // CHECK-SAME: %[[PARAMS:[^:]*]]: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: i64, %{{[^:]*}}: i64, %[[INPUTS:[^:]*]]: !llvm.ptr
  // CHECK-SAME: updates = ["model.layers.0.mlp.up_proj.weight", "model.layers.0.input_layernorm.weight", "model.norm.weight"]
  // CHECK: %[[X_SLOT:.*]] = llvm.getelementptr %[[INPUTS]][0]
  // CHECK: %[[X:.*]] = llvm.load %[[X_SLOT]]
  // CHECK: %[[DY_SLOT:.*]] = llvm.getelementptr %[[INPUTS]][1]
  // CHECK: %[[DY:.*]] = llvm.load %[[DY_SLOT]]
  // CHECK: %[[STATE_SLOT:.*]] = llvm.getelementptr %[[INPUTS]][9]
  // CHECK: %[[STATE:.*]] = llvm.load %[[STATE_SLOT]] : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[G_SLOT:.*]] = llvm.getelementptr %[[PARAMS]][0]
  // CHECK: %[[G:.*]] = llvm.load %[[G_SLOT]]
  // CHECK: %[[W_SLOT:.*]] = llvm.getelementptr %[[PARAMS]][1]
  // CHECK: %[[W:.*]] = llvm.load %[[W_SLOT]]
  // CHECK: %[[F_SLOT:.*]] = llvm.getelementptr %[[PARAMS]][2]
  // CHECK: %[[F:.*]] = llvm.load %[[F_SLOT]]
  // CHECK: eert.rms_norm_bf16 %[[X]], %[[G]], %[[N:[^,]*]],
  // CHECK: eert.to_bf16 %[[DY]], %[[DYB:[^,]*]],
  // CHECK: eert.linear_backward_input_bf16 %[[DYB]], %[[W]], %[[DN:[^,]*]], %{{[^,]*}}, %c8_i64, %c16_i64 :
  // CHECK: eert.linear_backward_weight_bf16 %[[DYB]], %[[N]], %[[DW:[^,]*]], %{{[^,]*}}, %c8_i64, %c16_i64 :
  // CHECK: eert.rms_norm_backward_bf16 %[[X]], %[[G]], %[[DN]], %[[DX:[^,]*]], %[[DG:[^,]*]],
  // CHECK: eert.rms_norm_backward %[[X]], %[[F]], %[[DX]], %{{[^,]*}}, %[[DF:[^,]*]],
  // CHECK: %[[W2:.*]] = llvm.load %[[W_SLOT]]
  // CHECK: %[[WM_SLOT:.*]] = llvm.getelementptr %[[STATE]][3]
  // CHECK: %[[WM:.*]] = llvm.load %[[WM_SLOT]]
  // CHECK: %[[WV_SLOT:.*]] = llvm.getelementptr %[[STATE]][4]
  // CHECK: %[[WV:.*]] = llvm.load %[[WV_SLOT]]
  // CHECK: %[[WMASTER_SLOT:.*]] = llvm.getelementptr %[[STATE]][5]
  // CHECK: %[[WMASTER:.*]] = llvm.load %[[WMASTER_SLOT]]
  // CHECK: eert.adamw_bf16 %[[W2]], %[[WMASTER]], %[[DW]], %[[WM]], %[[WV]], %c128_i64,
  // CHECK: %[[G2:.*]] = llvm.load %[[G_SLOT]]
  // CHECK: %[[GM_SLOT:.*]] = llvm.getelementptr %[[STATE]][0]
  // CHECK: %[[GM:.*]] = llvm.load %[[GM_SLOT]]
  // CHECK: %[[GV_SLOT:.*]] = llvm.getelementptr %[[STATE]][1]
  // CHECK: %[[GV:.*]] = llvm.load %[[GV_SLOT]]
  // CHECK: %[[GMASTER_SLOT:.*]] = llvm.getelementptr %[[STATE]][2]
  // CHECK: %[[GMASTER:.*]] = llvm.load %[[GMASTER_SLOT]]
  // CHECK: eert.adamw_bf16 %[[G2]], %[[GMASTER]], %[[DG]], %[[GM]], %[[GV]], %c8_i64,
  // CHECK: %[[F2:.*]] = llvm.load %[[F_SLOT]]
  // CHECK: %[[FM_SLOT:.*]] = llvm.getelementptr %[[STATE]][6]
  // CHECK: %[[FM:.*]] = llvm.load %[[FM_SLOT]]
  // CHECK: %[[FV_SLOT:.*]] = llvm.getelementptr %[[STATE]][7]
  // CHECK: %[[FV:.*]] = llvm.load %[[FV_SLOT]]
  // CHECK-NEXT: eert.adamw %[[F2]], %[[DF]], %[[FM]], %[[FV]], %c8_i64,
  func.func @update_bf16(%x: tensor<?x?x8xf32>, %dy: tensor<?x?x16xf32>, %lr: f32, %step: i64,
                         %b1: f32, %b2: f32, %eps: f32, %wd: f32, %clip: f32) -> tensor<?x?x8xf32> {
    %g = ee.get_parameter @model.layers.0.input_layernorm.weight : tensor<8xbf16>
    %w = ee.get_parameter @model.layers.0.mlp.up_proj.weight : tensor<16x8xbf16>
    %f = ee.get_parameter @model.norm.weight : tensor<8xf32>
    %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<?x?x8xbf16>
    %dyb = ee.convert %dy : tensor<?x?x16xf32> -> tensor<?x?x16xbf16>
    %dn = ee.linear_grad_input %dyb, %w : tensor<?x?x16xbf16>, tensor<16x8xbf16> -> tensor<?x?x8xf32>
    %dw = ee.linear_grad_weight %dyb, %n : tensor<?x?x16xbf16>, tensor<?x?x8xbf16> -> tensor<16x8xf32>
    %dx, %dg = ee.rms_norm_grad %x, %g, %dn eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xbf16> -> tensor<8xf32>
    %dx2, %df = ee.rms_norm_grad %x, %f, %dx eps 1.0e-05 : tensor<?x?x8xf32>, tensor<8xf32>
    ee.adamw @model.layers.0.mlp.up_proj.weight, %dw lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd : tensor<16x8xf32>
    ee.adamw @model.layers.0.input_layernorm.weight, %dg lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd no_decay : tensor<8xf32>
    ee.adamw @model.norm.weight, %df lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd no_decay : tensor<8xf32>
    return %dx2 : tensor<?x?x8xf32>
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

// A head's token choice: one eert_exit_decision call; its i32 and i64 results
// take a 64-byte aligned slot per token of the arena like the others; the
// choice and states inputs and the token outputs are described by kind.
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true>} {
  // CHECK-LABEL: func.func @ee_choose(
  // CHECK-SAME: inputs = [{features = 32 : i64, kind = "activation"}, {features = 4 : i64, kind = "activation"}, {kind = "states"}]
  // CHECK-SAME: outputs = [{kind = "tokens"}, {kind = "tokens"}, {features = 1 : i64, kind = "activation"}, {kind = "states"}]
  // CHECK-SAME: per_token_bytes = 320 : i64
  // CHECK: eert.exit_confidence %[[L:[^,]*]], %[[C:[^,]*]],
  // CHECK: eert.exit_decision %[[L]], %[[C]], %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %c32_i64 : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64) -> i32
  func.func @choose(%l: tensor<?x?x32xf32>, %choice: tensor<?x?x4xf32>, %state: tensor<?x?xi64>)
      -> (tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>) {
    %c = ee.exit_confidence %l : tensor<?x?x32xf32> -> tensor<?x?xf32>
    %d:4 = ee.exit_decision %l, %c, %choice, %state
        : tensor<?x?x32xf32>, tensor<?x?xf32>, tensor<?x?x4xf32>, tensor<?x?xi64>
        -> tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
    return %d#0, %d#1, %d#2, %d#3 : tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
  }
}
