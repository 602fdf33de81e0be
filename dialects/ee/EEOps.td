//===- EEOps.td - ee dialect operations --------------------*- tablegen -*-===//

#ifndef EE_OPS_TD
#define EE_OPS_TD

include "EEDialect.td"
include "EEAttrs.td"
include "EETypes.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

// Activations: [batch, seq, features] with dynamic or static batch and sequence
// sizes and a static feature size (model dimensions are static).
class EE_ActivationOf<list<Type> elements, string what> : Type<
    And<[TensorRankOf<elements, [3]>.predicate,
         CPred<"!::mlir::ShapedType::isDynamic("
               "::llvm::cast<::mlir::RankedTensorType>($_self).getShape().back())">]>,
    what # " tensor [batch, seq, features] with a static feature size",
    "::mlir::RankedTensorType">;
def EE_Activation : EE_ActivationOf<[F32], "f32">;
// The input of a linear product: bf16 in a model compiled with --dtype bf16
// (ee-mixed-precision), f32 otherwise.
def EE_ProductActivation : EE_ActivationOf<[F32, BF16], "f32 or bf16">;
// Token ids, labels and positions: [batch, seq].
def EE_TokenTensor : TensorRankOf<[I32], [2]>;
// Weights have static shapes; a model compiled with --dtype bf16 stores them
// in bf16, its gradients and optimizer state in f32.
def EE_Vector : Type<And<[TensorRankOf<[F32], [1]>.predicate, HasStaticShapePred]>,
    "statically shaped 1-D f32 tensor", "::mlir::RankedTensorType">;
def EE_Matrix : Type<And<[TensorRankOf<[F32], [2]>.predicate, HasStaticShapePred]>,
    "statically shaped 2-D f32 tensor", "::mlir::RankedTensorType">;
def EE_WeightVector : Type<And<[TensorRankOf<[F32, BF16], [1]>.predicate, HasStaticShapePred]>,
    "statically shaped 1-D f32 or bf16 tensor", "::mlir::RankedTensorType">;
def EE_WeightMatrix : Type<And<[TensorRankOf<[F32, BF16], [2]>.predicate, HasStaticShapePred]>,
    "statically shaped 2-D f32 or bf16 tensor", "::mlir::RankedTensorType">;
def EE_AddOperand : AnyTypeOf<[EE_Activation, EE_Matrix, EE_Vector]>;
// A data-parallel replica's block of a weight-shaped tensor (ZeRO-1).
def EE_Block : Type<And<[TensorRankOf<[F32], [1]>.predicate,
                         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).isDynamicDim(0)">]>,
    "1-D f32 tensor of dynamic size (a data-parallel block)", "::mlir::RankedTensorType">;

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

def EE_ParameterOp : EE_Op<"parameter", [Symbol]> {
  let summary = "declares a model weight by its checkpoint tensor name";
  let description = [{
    A trainable tensor of the model. The symbol name is the tensor's name in a
    Hugging Face style safetensors checkpoint (docs/config.md), so a compiled
    program and a checkpoint meet by name.

    ```mlir
    ee.parameter @model.layers.0.self_attn.q_proj.weight : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<AnyStaticShapeTensor>:$type);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    RankedTensorType getTensorType() {
      return ::llvm::cast<RankedTensorType>(getType());
    }
  }];
}

def EE_GetParameterOp : EE_Op<"get_parameter",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "the value of a declared parameter";
  let description = [{
    ```mlir
    %w = ee.get_parameter @model.norm.weight : tensor<64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Model-level ops
//===----------------------------------------------------------------------===//

class EE_ModelOp<string mnemonic, list<Trait> traits = []>
    : EE_Op<mnemonic, !listconcat(traits,
        [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>])>;

def EE_EmbeddingOp : EE_ModelOp<"embedding"> {
  let summary = "token embedding (model level)";
  let description = [{
    Looks the token ids up in the embedding table `table` (`[vocab, hidden]`).
    Expands into `ee.embedding_lookup`.

    ```mlir
    %h = ee.embedding %ids table(@model.embed_tokens.weight)
        : tensor<?x?xi32> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins EE_TokenTensor:$ids, FlatSymbolRefAttr:$table);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = [{
    $ids `table` `(` $table `)` attr-dict `:` type($ids) `->` type($result)
  }];
}

def EE_DecoderLayerOp : EE_ModelOp<"decoder_layer",
    [AllTypesMatch<["input", "output", "residual"]>]> {
  let summary = "one Llama decoder layer (model level)";
  let description = [{
    `residual = x + Attn(RMSNorm_in(x))`, `output = residual + MLP(RMSNorm_post(residual))`
    with causal grouped-query attention, rotary positions and a SwiGLU MLP. The
    weights are the parameters named `<prefix>.input_layernorm.weight`,
    `<prefix>.self_attn.{q,k,v,o}_proj.weight`,
    `<prefix>.post_attention_layernorm.weight` and `<prefix>.mlp.{gate,up,down}_proj.weight`.
    The mid-layer `residual` is what an MLP exit branches from.

    ```mlir
    %y, %h = ee.decoder_layer %x, %pos layer
        #ee.layer<num_heads = 4, num_kv_heads = 2, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
        weights("model.layers.0") : tensor<?x?x64xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins EE_Activation:$input, EE_TokenTensor:$positions,
                       StrAttr:$prefix, EE_LayerAttr:$layer);
  let results = (outs EE_Activation:$output, EE_Activation:$residual);
  let assemblyFormat = [{
    $input `,` $positions `layer` $layer `weights` `(` $prefix `)` attr-dict
    `:` type($input) `,` type($positions)
  }];
}

def EE_ExitOp : EE_ModelOp<"exit"> {
  let summary = "an early-exit head (model level)";
  let description = [{
    Exit number `index` (0-based) sits at 1-based layer `layer`; with `pre_exit`
    it reads that layer's input, otherwise its output. On its input `z`:

    * `branch block`: `z = Block_exit(z)` with the weights `exits.<index>.block.*`
      (needs `positions`);
    * `branch mlp`: the input is the layer's mid-layer residual `h` and
      `z = h + MLP_exit(RMSNorm_post(h))` with the layer's own
      `post_attention_layernorm` and the weights `exits.<index>.mlp.*`;
    * `norm`: `z = RMSNorm_exit(z)` with `exits.<index>.norm.weight`;
    * logits `= z W^T` with `W` the parameter `output` (the input embedding, or
      `exits.<index>.lm_head.weight` when untied).

    `temperature` and `loss_weight` are the exit's training-objective terms, read
    by `ee.exit_loss`.

    ```mlir
    %l0 = ee.exit %y1 exit 0 layer 2 branch none norm
        #ee.layer<num_heads = 4, num_kv_heads = 2, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
        temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 0, style = linear>
        output(@model.embed_tokens.weight) : tensor<?x?x64xf32> -> tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins
    EE_Activation:$input,
    Optional<EE_TokenTensor>:$positions,
    ConfinedAttr<I64Attr, [IntNonNegative]>:$index,
    ConfinedAttr<I64Attr, [IntPositive]>:$layer,
    UnitAttr:$pre_exit,
    EE_ExitBranchAttr:$branch,
    UnitAttr:$norm,
    FlatSymbolRefAttr:$output,
    F64Attr:$temperature,
    EE_LossWeightAttr:$loss_weight,
    EE_LayerAttr:$layer_spec);
  let results = (outs EE_Activation:$logits);
  let assemblyFormat = [{
    $input (`,` $positions^)? `exit` $index `layer` $layer (`pre_exit` $pre_exit^)?
    `branch` custom<ExitBranch>($branch) (`norm` $norm^)? $layer_spec
    `temperature` $temperature `weight` $loss_weight `output` `(` $output `)` attr-dict
    `:` type($input) (`,` type($positions)^)? `->` type($logits)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The declared layer against the input's chain and the module's ee.config.
    LogicalResult verifyPlacement();
    /// Checkpoint-name prefix of this exit's own weights: `exits.<index>`.
    std::string getWeightPrefix() { return "exits." + std::to_string(getIndex()); }
    /// The post-attention norm that an MLP branch shares with its layer.
    std::string getSharedPostNormName() {
      return "model.layers." + std::to_string(getLayer() - 1) +
             ".post_attention_layernorm.weight";
    }
  }];
}

def EE_FinalHeadOp : EE_ModelOp<"final_head"> {
  let summary = "the final norm and output embedding (model level)";
  let description = [{
    `logits = RMSNorm(y) W^T` with the norm weight `norm` and output matrix `output`
    (`lm_head.weight`, or the input embedding when tied).

    ```mlir
    %logits = ee.final_head %y norm(@model.norm.weight) output(@lm_head.weight) eps 1.0e-05
        : tensor<?x?x64xf32> -> tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins EE_Activation:$input, FlatSymbolRefAttr:$norm,
                       FlatSymbolRefAttr:$output, F64Attr:$rms_norm_eps);
  let results = (outs EE_Activation:$logits);
  let assemblyFormat = [{
    $input `norm` `(` $norm `)` `output` `(` $output `)` `eps` $rms_norm_eps attr-dict
    `:` type($input) `->` type($logits)
  }];
  let hasVerifier = 1;
}

def EE_ExitLossOp : EE_Op<"exit_loss", [Pure]> {
  let summary = "an exit's weighted term of the training objective (model level)";
  let description = [{
    `w(iteration) * CE(logits / temperature, labels)`, the mean cross-entropy over
    all tokens scaled by the exit's loss-weight schedule. When `logits` come from an
    `ee.exit`, `temperature` and `loss_weight` must be that exit's.

    ```mlir
    %t = ee.exit_loss %l0, %labels, %iter
        weight #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 0, style = linear>
        temperature 1.0 : tensor<?x?x256xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins EE_Activation:$logits, EE_TokenTensor:$labels, I64:$iteration,
                       F64Attr:$temperature, EE_LossWeightAttr:$loss_weight);
  let results = (outs F32:$loss);
  let assemblyFormat = [{
    $logits `,` $labels `,` $iteration `weight` $loss_weight `temperature` $temperature
    attr-dict `:` type($logits) `,` type($labels)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Primitive ops: one runtime kernel each.
//===----------------------------------------------------------------------===//

def EE_EmbeddingLookupOp : EE_Op<"embedding_lookup", [Pure]> {
  let summary = "gathers rows of an embedding table";
  let description = [{
    `result[b, s, :] = table[ids[b, s], :]`, in f32 (a bf16 table's rows are
    widened exactly). With `vocab_parallel` (ee-tensor-
    parallel) the table holds this tensor-parallel rank's block of rows
    (rank r: ids [r V_local, (r + 1) V_local)) and other ids give zero rows; an
    `ee.tp_all_reduce` then completes the lookup.

    ```mlir
    %h = ee.embedding_lookup %table, %ids
        : tensor<256x64xf32>, tensor<?x?xi32> -> tensor<?x?x64xf32>
    %p = ee.embedding_lookup %shard, %ids vocab_parallel
        : tensor<128x64xf32>, tensor<?x?xi32> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins EE_WeightMatrix:$table, EE_TokenTensor:$ids, UnitAttr:$vocab_parallel);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = [{
    $table `,` $ids (`vocab_parallel` $vocab_parallel^)? attr-dict `:` type($table) `,` type($ids)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def EE_RMSNormOp : EE_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalisation over the feature dimension";
  let description = [{
    `result = x / sqrt(mean(x^2) + eps) * weight`, computed in f32. The weight
    may be bf16, and the result bf16 where it feeds linear products
    (ee-mixed-precision): then it is rounded once, after the weight multiply.

    ```mlir
    %n = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
    %b = ee.rms_norm %x, %wb eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
    ```
  }];
  let arguments = (ins EE_Activation:$input, EE_WeightVector:$weight, F64Attr:$eps);
  let results = (outs EE_ProductActivation:$result);
  let assemblyFormat = [{
    $input `,` $weight `eps` $eps attr-dict `:` type($input) `,` type($weight)
    `` custom<ConvertedType>(ref(type($input)), type($result))
  }];
  let hasVerifier = 1;
}

def EE_LinearOp : EE_Op<"linear", [Pure]> {
  let summary = "a bias-free linear map `x W^T` with `W` stored `[out, in]`";
  let description = [{
    The input and the weight have one element type, f32 or bf16; the product
    accumulates and is returned in f32.

    ```mlir
    %q = ee.linear %x, %wq : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
    %p = ee.linear %xb, %wb : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins EE_ProductActivation:$input, EE_WeightMatrix:$weight);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def EE_RotaryOp : EE_Op<"rotary", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding (Hugging Face rotate_half convention)";
  let description = [{
    The features are `num_heads` heads of even size `d`; each head's first and
    second halves are rotated as pairs `(x[i], x[i + d/2])` by the angle
    `position * theta^(-2i/d)`.

    ```mlir
    %r = ee.rotary %q, %pos heads 4 theta 10000.0 : tensor<?x?x64xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins EE_Activation:$input, EE_TokenTensor:$positions,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads, F64Attr:$theta);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = [{
    $input `,` $positions `heads` $num_heads `theta` $theta attr-dict
    `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def EE_AttentionOp : EE_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "causal grouped-query scaled dot-product attention";
  let description = [{
    `q` holds `num_heads` heads, `k` and `v` hold `num_kv_heads` heads of the same
    size `d`; query head `h` uses key/value head `h / (num_heads / num_kv_heads)`.
    Scores are scaled by `1/sqrt(d)`; a query attends to keys at its own position
    and before.

    Without a cache the keys are those of the same sequence. With `cache`, the new
    keys/values are written into `k_cache`/`v_cache` (`[batch, max_positions,
    kv features]`) at `positions`, each query attends to the cache entries at
    positions up to its own, and the updated caches are returned. Token `t` of
    sequence `b` uses cache row `b`, or `rows[t]` when `rows` is given: then the
    tokens may come from different sequences with different counts (early-exit
    generation batches a sequence's recomputed entries with other sequences'
    new tokens).

    ```mlir
    %o = ee.attention %q, %k, %v heads 4 kv_heads 2
        : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
    %o2, %kc2, %vc2 = ee.attention %q, %k, %v cache(%kc, %vc) positions(%pos) heads 4 kv_heads 2
        : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>,
           tensor<?x128x32xf32>, tensor<?x128x32xf32>, tensor<?x?xi32>)
        -> (tensor<?x?x64xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>)
    ```
  }];
  let arguments = (ins EE_Activation:$query, EE_Activation:$key, EE_Activation:$value,
                       Optional<EE_Activation>:$k_cache, Optional<EE_Activation>:$v_cache,
                       Optional<EE_TokenTensor>:$positions, Optional<EE_TokenTensor>:$rows,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads);
  let results = (outs EE_Activation:$output, Variadic<EE_Activation>:$updated_cache);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`cache` `(` $k_cache^ `,` $v_cache `)`)?
    (`positions` `(` $positions^ `)`)? (`rows` `(` $rows^ `)`)? `heads` $num_heads
    `kv_heads` $num_kv_heads
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def EE_SwiGLUOp : EE_Op<"swiglu", [Pure, AllTypesMatch<["gate", "up"]>]> {
  let summary = "the SwiGLU gate `silu(gate) * up`";
  let description = [{
    Computed in f32; the result may be bf16 where it feeds the down
    projection (ee-mixed-precision), rounded once.

    ```mlir
    %a = ee.swiglu %gate, %up : tensor<?x?x176xf32>
    %b = ee.swiglu %gate, %up : tensor<?x?x176xf32> -> tensor<?x?x176xbf16>
    ```
  }];
  let arguments = (ins EE_Activation:$gate, EE_Activation:$up);
  let results = (outs EE_ProductActivation:$result);
  let assemblyFormat = [{
    $gate `,` $up attr-dict `:` type($gate) `` custom<ConvertedType>(ref(type($gate)), type($result))
  }];
  let hasVerifier = 1;
}

def EE_AddOp : EE_Op<"add", [Pure, Commutative, SameOperandsAndResultType]> {
  let summary = "elementwise addition: residuals, and gradient accumulation";
  let description = [{
    Adds activations (residual connections) or statically shaped tensors (the
    gradients of a weight used in several places).

    ```mlir
    %h = ee.add %x, %attn : tensor<?x?x64xf32>
    %g = ee.add %g0, %g1 : tensor<256x64xf32>
    ```
  }];
  let arguments = (ins EE_AddOperand:$lhs, EE_AddOperand:$rhs);
  let results = (outs EE_AddOperand:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def EE_LogitsOp : EE_Op<"logits", [Pure]> {
  let summary = "output-embedding projection `z W^T` onto the vocabulary";
  let description = [{
    Like `ee.linear` but onto the vocabulary, so that tensor parallelism can split
    it by vocabulary rows (vocab-parallel heads). The logits are f32.

    ```mlir
    %l = ee.logits %z, %emb : tensor<?x?x64xf32>, tensor<256x64xf32> -> tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins EE_ProductActivation:$input, EE_WeightMatrix:$weight);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def EE_CrossEntropyOp : EE_Op<"cross_entropy", [Pure]> {
  let summary = "mean token cross-entropy of `logits / temperature` against labels";
  let description = [{
    `-mean_{b,s} log_softmax(logits[b, s] / temperature)[labels[b, s]]`. With
    `vocab_parallel` the logits are this tensor-parallel rank's block of the
    vocabulary: the softmax's maximum and sum and the labels' logits are
    combined over the tensor-parallel group (Megatron's vocab-parallel
    cross-entropy), so no rank holds the whole vocabulary's logits.

    ```mlir
    %ce = ee.cross_entropy %logits, %labels temperature 1.0
        : tensor<?x?x256xf32>, tensor<?x?xi32>
    %cp = ee.cross_entropy %shard, %labels temperature 1.0 vocab_parallel
        : tensor<?x?x128xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins EE_Activation:$logits, EE_TokenTensor:$labels, F64Attr:$temperature,
                       UnitAttr:$vocab_parallel);
  let results = (outs F32:$loss);
  let assemblyFormat = [{
    $logits `,` $labels `temperature` $temperature (`vocab_parallel` $vocab_parallel^)? attr-dict
    `:` type($logits) `,` type($labels)
  }];
  let hasVerifier = 1;
}

def EE_ExitConfidenceOp : EE_Op<"exit_confidence", [Pure]> {
  let summary = "maximum softmax probability of each token's logits";
  let description = [{
    The early-exit criterion: a token exits when this is at least the threshold.
    With `vocab_parallel` the logits are this tensor-parallel rank's block of
    the vocabulary and the maximum and the softmax's sum are taken over the
    group.

    ```mlir
    %c = ee.exit_confidence %logits : tensor<?x?x256xf32> -> tensor<?x?xf32>
    %cp = ee.exit_confidence %shard vocab_parallel : tensor<?x?x128xf32> -> tensor<?x?xf32>
    ```
  }];
  let arguments = (ins EE_Activation:$logits, UnitAttr:$vocab_parallel);
  let results = (outs TensorRankOf<[F32], [2]>:$confidence);
  let assemblyFormat = [{
    $logits (`vocab_parallel` $vocab_parallel^)? attr-dict `:` type($logits) `->` type($confidence)
  }];
  let hasVerifier = 1;
}

def EE_ExitDecisionOp : EE_Op<"exit_decision", [Pure]> {
  let summary = "per token: whether a head gives the token, which token, its log-probability";
  let description = [{
    The exit criterion and the token choice of early-exit generation, in the
    step function (so one binary serves every request: the thresholds and the
    sampling options are inputs). For each token t, with
    `choice[t] = (threshold, temperature, top_k, top_p)` and a 64-bit random
    state `state[t]`:

    - `decision[t]` is 1 when `confidence[t] >= threshold` (an exit is taken;
      a threshold of 0 always takes it: the final head), else 0;
    - where it is 1, `token[t]` is the arg-max of `logits[t]` (temperature 0 or
      top_k 1) or a token sampled from softmax(logits / temperature)
      restricted to the top_k most likely (0: all) and to the smallest set
      whose probability reaches top_p, drawn with `state[t]`, which
      `next_state[t]` returns advanced; `logprob[t]` is the token's
      log-probability under softmax(logits[t]);
    - where it is 0, the token is -1, the log-probability 0 and the state is
      returned unchanged.

    ```mlir
    %decision, %token, %logprob, %next = ee.exit_decision %logits, %confidence, %choice, %state
        : tensor<?x?x256xf32>, tensor<?x?xf32>, tensor<?x?x4xf32>, tensor<?x?xi64>
        -> tensor<?x?xi32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xi64>
    ```
  }];
  let arguments = (ins EE_Activation:$logits, TensorRankOf<[F32], [2]>:$confidence,
                       EE_Activation:$choice, TensorRankOf<[I64], [2]>:$state);
  let results = (outs EE_TokenTensor:$decision, EE_TokenTensor:$token,
                      TensorRankOf<[F32], [2]>:$logprob, TensorRankOf<[I64], [2]>:$next_state);
  let assemblyFormat = [{
    $logits `,` $confidence `,` $choice `,` $state attr-dict
    `:` type($logits) `,` type($confidence) `,` type($choice) `,` type($state)
    `->` type($decision) `,` type($token) `,` type($logprob) `,` type($next_state)
  }];
  let hasVerifier = 1;
}

def EE_LossWeightOp : EE_Op<"loss_weight", [Pure]> {
  let summary = "an exit's loss weight w(t) at a training iteration";
  let description = [{
    Evaluates the schedule `#ee.loss_weight` at `iteration`; folds to a constant
    when the schedule is constant.

    ```mlir
    %w = ee.loss_weight %iter schedule #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 100, style = linear>
    ```
  }];
  let arguments = (ins I64:$iteration, EE_LossWeightAttr:$schedule);
  let results = (outs F32:$weight);
  let assemblyFormat = "$iteration `schedule` $schedule attr-dict";
  let hasFolder = 1;
}

def EE_TPCopyOp : EE_Op<"tp_copy", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "enters a tensor-parallel region: identity, gradient all-reduced";
  let description = [{
    Megatron's `f`: the input of column-parallel projections (and of a
    vocab-parallel head) is the same on every tensor-parallel rank; each
    rank's backward pass yields only its shards' part of the input's gradient,
    so the gradient is summed over the tensor-parallel group.

    ```mlir
    %x1 = ee.tp_copy %x : tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins EE_ProductActivation:$input);
  let results = (outs EE_ProductActivation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def EE_TPAllReduceOp : EE_Op<"tp_all_reduce", [AllTypesMatch<["input", "result"]>]> {
  let summary = "leaves a tensor-parallel region: sum over the group, gradient as is";
  let description = [{
    Megatron's `g`: the partial outputs of a row-parallel projection (or of a
    vocab-parallel embedding lookup) summed over the tensor-parallel group.
    Not `Pure`: every rank of the group must run it.

    ```mlir
    %y = ee.tp_all_reduce %partial : tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins EE_Activation:$input);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def EE_TPAllGatherOp : EE_Op<"tp_all_gather", []> {
  let summary = "every tensor-parallel rank's block of features, concatenated";
  let description = [{
    `result[b, s, r * F + f] = input_r[b, s, f]` over the ranks r of the
    tensor-parallel group: the whole vocabulary's logits from vocab-parallel
    ones, where generation samples from them. Not `Pure`: every rank of the
    group must run it.

    ```mlir
    %all = ee.tp_all_gather %shard : tensor<?x?x128xf32> -> tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins EE_Activation:$input);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def EE_InnerProductOp : EE_Op<"inner_product", [Pure, AllTypesMatch<["lhs", "rhs"]>]> {
  let summary = "sum over every element of the product of two tensors";
  let description = [{
    `<a, b> = sum_{b,s,f} a[b, s, f] * b[b, s, f]`. A pipeline stage's surrogate
    loss (ee-exit-gradients) adds `<y_s, g_s>`: with the gradient `g_s` received
    from the next stage held constant, back-propagating the term seeds `y_s`
    with `g_s`, so the stage's gradients equal those of the global objective.

    ```mlir
    %p = ee.inner_product %y, %g : tensor<?x?x64xf32>
    // A gradient's squared norm (ee-data-parallel's clipping), or a
    // ZeRO-1 replica's share of it.
    %q = ee.inner_product %dw, %dw : tensor<256x64xf32>
    %qb = ee.inner_product %block, %block : tensor<?xf32>
    ```
  }];
  let arguments = (ins AnyTypeOf<[EE_AddOperand, EE_Block]>:$lhs, AnyTypeOf<[EE_AddOperand, EE_Block]>:$rhs);
  let results = (outs F32:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs)";
}

def EE_ScaleOp : EE_Op<"scale", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "an activation or a weight-shaped tensor times a scalar";
  let description = [{
    `result = factor * input`: the gradient of `ee.inner_product` with respect
    to one operand is the other scaled by the incoming gradient, and a
    training step scales its summed gradients (ee-pipeline-step). A scale by
    the constant 1 folds away.

    ```mlir
    %d = ee.scale %g, %dloss : tensor<?x?x64xf32>
    %w = ee.scale %sum, %grad_scale : tensor<256x64xf32>
    ```
  }];
  let arguments = (ins EE_AddOperand:$input, F32:$factor);
  let results = (outs EE_AddOperand:$result);
  let assemblyFormat = "$input `,` $factor attr-dict `:` type($result)";
  let hasFolder = 1;
}

def EE_ConvertOp : EE_Op<"convert", [Pure]> {
  let summary = "rounds an f32 tensor to bf16, or widens a bf16 one to f32";
  let description = [{
    f32 to bf16 rounds to nearest even (as PyTorch's `.to(torch.bfloat16)`);
    bf16 to f32 is exact. ee-mixed-precision places it before linear products
    whose input no producer writes in bf16 directly; its gradient passes
    through unchanged (gradients are f32).

    ```mlir
    %b = ee.convert %o : tensor<?x?x64xf32> -> tensor<?x?x64xbf16>
    ```
  }];
  let arguments = (ins TensorOf<[F32, BF16]>:$input);
  let results = (outs TensorOf<[F32, BF16]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Backward primitives: the vector-Jacobian products ee-autodiff emits.
//===----------------------------------------------------------------------===//

def EE_CrossEntropyGradOp : EE_Op<"cross_entropy_grad",
    [Pure, AllTypesMatch<["logits", "dlogits"]>]> {
  let summary = "gradient of ee.cross_entropy with respect to the logits";
  let description = [{
    `dlogits = dloss * (softmax(logits / T) - onehot(labels)) / (T * tokens)`.

    ```mlir
    %d = ee.cross_entropy_grad %logits, %labels, %dloss temperature 1.0
        : tensor<?x?x256xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins EE_Activation:$logits, EE_TokenTensor:$labels, F32:$dloss,
                       F64Attr:$temperature, UnitAttr:$vocab_parallel);
  let results = (outs EE_Activation:$dlogits);
  let assemblyFormat = [{
    $logits `,` $labels `,` $dloss `temperature` $temperature (`vocab_parallel` $vocab_parallel^)?
    attr-dict `:` type($logits) `,` type($labels)
  }];
}

def EE_LinearGradInputOp : EE_Op<"linear_grad_input", [Pure]> {
  let summary = "input gradient of a projection: `dx = dy W`";
  let description = [{
    For `y = x W^T` (`ee.linear` or `ee.logits`) with `W` `[out, in]`.

    ```mlir
    %dx = ee.linear_grad_input %dy, %w : tensor<?x?x128xf32>, tensor<128x64xf32> -> tensor<?x?x64xf32>
    %dxb = ee.linear_grad_input %dyb, %wb : tensor<?x?x128xbf16>, tensor<128x64xbf16> -> tensor<?x?x64xf32>
    ```

    `dy` and the weight have one element type; `dx` is f32.
  }];
  let arguments = (ins EE_ProductActivation:$dy, EE_WeightMatrix:$weight);
  let results = (outs EE_Activation:$dx);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $dy `,` $weight attr-dict `:` type($dy) `,` type($weight) `->` type($dx)
  }];
}

def EE_LinearGradWeightOp : EE_Op<"linear_grad_weight", [Pure]> {
  let summary = "weight gradient of a projection: `dW = dy^T x` over all tokens";
  let description = [{
    ```mlir
    %dw = ee.linear_grad_weight %dy, %x : tensor<?x?x128xf32>, tensor<?x?x64xf32> -> tensor<128x64xf32>
    ```

    `dy` and the input have one element type; the gradient is f32 (a bf16
    weight's gradient too).
  }];
  let arguments = (ins EE_ProductActivation:$dy, EE_ProductActivation:$input);
  let results = (outs EE_Matrix:$dweight);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $dy `,` $input attr-dict `:` type($dy) `,` type($input) `->` type($dweight)
  }];
}

def EE_RMSNormGradOp : EE_Op<"rms_norm_grad",
    [Pure, AllTypesMatch<["input", "dy", "dx"]>]> {
  let summary = "gradients of ee.rms_norm with respect to its input and weight";
  let description = [{
    The weight may be bf16; both gradients are f32.

    ```mlir
    %dx, %dw = ee.rms_norm_grad %x, %w, %dy eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
    %dx2, %dw2 = ee.rms_norm_grad %x, %wb, %dy eps 1.0e-05
        : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<64xf32>
    ```
  }];
  let arguments = (ins EE_Activation:$input, EE_WeightVector:$weight, EE_Activation:$dy, F64Attr:$eps);
  let results = (outs EE_Activation:$dx, EE_Vector:$dweight);
  let assemblyFormat = [{
    $input `,` $weight `,` $dy `eps` $eps attr-dict `:` type($input) `,` type($weight)
    `` custom<ConvertedType>(ref(type($weight)), type($dweight))
  }];
  let hasVerifier = 1;
}

def EE_RotaryGradOp : EE_Op<"rotary_grad", [Pure, AllTypesMatch<["dy", "dx"]>]> {
  let summary = "gradient of ee.rotary: the inverse rotation of the output gradient";
  let description = [{
    ```mlir
    %dx = ee.rotary_grad %dy, %pos heads 4 theta 10000.0 : tensor<?x?x64xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins EE_Activation:$dy, EE_TokenTensor:$positions,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads, F64Attr:$theta);
  let results = (outs EE_Activation:$dx);
  let assemblyFormat = [{
    $dy `,` $positions `heads` $num_heads `theta` $theta attr-dict
    `:` type($dy) `,` type($positions)
  }];
}

def EE_AttentionGradOp : EE_Op<"attention_grad", [Pure]> {
  let summary = "gradients of causal grouped-query attention (without a cache)";
  let description = [{
    Recomputes the attention probabilities from `query` and `key` and returns
    the gradients of the query, key and value.

    ```mlir
    %dq, %dk, %dv = ee.attention_grad %q, %k, %v, %dout heads 4 kv_heads 2
        : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>)
        -> (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>)
    ```
  }];
  let arguments = (ins EE_Activation:$query, EE_Activation:$key, EE_Activation:$value,
                       EE_Activation:$doutput,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads);
  let results = (outs EE_Activation:$dquery, EE_Activation:$dkey, EE_Activation:$dvalue);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $doutput `heads` $num_heads `kv_heads` $num_kv_heads
    attr-dict `:` functional-type(operands, results)
  }];
}

def EE_SwiGLUGradOp : EE_Op<"swiglu_grad",
    [Pure, AllTypesMatch<["gate", "up", "dy", "dgate", "dup"]>]> {
  let summary = "gradients of ee.swiglu with respect to the gate and the up projection";
  let description = [{
    ```mlir
    %dg, %du = ee.swiglu_grad %gate, %up, %dy : tensor<?x?x176xf32>
    ```
  }];
  let arguments = (ins EE_Activation:$gate, EE_Activation:$up, EE_Activation:$dy);
  let results = (outs EE_Activation:$dgate, EE_Activation:$dup);
  let assemblyFormat = "$gate `,` $up `,` $dy attr-dict `:` type($gate)";
}

def EE_EmbeddingGradOp : EE_Op<"embedding_grad", [Pure]> {
  let summary = "gradient of an embedding table: rows of dy summed per token id";
  let description = [{
    ```mlir
    %dt = ee.embedding_grad %ids, %dy : tensor<?x?xi32>, tensor<?x?x64xf32> -> tensor<256x64xf32>
    ```
  }];
  let arguments = (ins EE_TokenTensor:$ids, EE_Activation:$dy, UnitAttr:$vocab_parallel);
  let results = (outs EE_Matrix:$dtable);
  let assemblyFormat = [{
    $ids `,` $dy (`vocab_parallel` $vocab_parallel^)? attr-dict `:` type($ids) `,` type($dy)
    `->` type($dtable)
  }];
}

//===----------------------------------------------------------------------===//
// Communication: non-blocking point-to-point and collective ops
//===----------------------------------------------------------------------===//

def EE_Request : Type<CPred<"::llvm::isa<::mlir::ee::RequestType>($_self)">,
                      "an !ee.request", "::mlir::ee::RequestType">;

def EE_SendOp : EE_Op<"send"> {
  let summary = "starts sending a tensor to a pipeline stage relative to this one";
  let description = [{
    Posts the send of `input` to the stage `peer` stages away (`1` the next
    stage, `-1` the previous one) in this rank's pipeline group, as message
    `tag` (one per micro-batch and direction); the op returns at once and
    `ee.wait` on the request completes it, after which `input` may be reused.
    A stage receives from a peer only what that peer sends it, so the
    activation a stage sends forward and the gradient it receives back may
    share a tag.

    Its vector-Jacobian rule (ee-autodiff) is a receive: the gradient of
    `input` arrives from the same peer under the same tag.

    ```mlir
    %sent = ee.send %y to 1 tag 0 : tensor<?x?x64xf32> -> !ee.request
    ee.wait %sent : !ee.request
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$peer,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$tag);
  let results = (outs EE_Request:$request);
  let assemblyFormat = [{
    $input `to` $peer `tag` $tag attr-dict `:` type($input) `->` qualified(type($request))
  }];
  let hasVerifier = 1;
}

def EE_RecvOp : EE_Op<"recv"> {
  let summary = "starts receiving a tensor from a pipeline stage relative to this one";
  let description = [{
    Posts the receive of message `tag` from the stage `peer` stages away; the
    tensor is the payload of the returned request, delivered by `ee.wait`.
    The dynamic sizes of the payload (a micro-batch's batch and sequence
    lengths) are operands, in order.

    Its vector-Jacobian rule is a send: the gradient of the received tensor
    goes back to the peer under the same tag.

    ```mlir
    %incoming = ee.recv from -1 tag 0 shape(%b, %s) : !ee.request<tensor<?x?x64xf32>>
    %x = ee.wait %incoming : !ee.request<tensor<?x?x64xf32>> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Variadic<Index>:$sizes, I64Attr:$peer,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$tag);
  let results = (outs EE_Request:$request);
  let assemblyFormat = [{
    `from` $peer `tag` $tag (`shape` `(` $sizes^ `)`)? attr-dict `:` qualified(type($request))
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    RankedTensorType getTensorType() {
      return ::llvm::cast<RankedTensorType>(getRequest().getType().getPayload());
    }
  }];
}

class EE_CollectiveStartOp<string mnemonic, string what, string example>
    : EE_Op<mnemonic> {
  let summary = "starts " # what # " over a communication group";
  let description = [{
    Starts the collective over `group` (the tensor-parallel, pipeline or
    data-parallel group of this rank, or with `tied(@weight)` the stages that
    hold that tied weight) and returns at once; `ee.wait` delivers the result,
    so the ops between the start and the wait overlap with it. Every rank of
    the group must start it, in the same order as its peers.

    ```mlir
  }] # example # [{
    ```
  }];
  let arguments = (ins AnyTypeOf<[AnyRankedTensor, F32]>:$input, EE_Group:$group,
                       OptionalAttr<FlatSymbolRefAttr>:$weight);
  let results = (outs EE_Request:$request);
  let assemblyFormat = [{
    $input `over` $group (`(` $weight^ `)`)? attr-dict `:` type($input) `->` qualified(type($request))
  }];
  let hasVerifier = 1;
}

def EE_AllReduceStartOp : EE_CollectiveStartOp<"all_reduce_start",
    "summing a tensor elementwise (all-reduce)", [{
    %r = ee.all_reduce_start %grad over dp : tensor<256x64xf32> -> !ee.request<tensor<256x64xf32>>
    %sum = ee.wait %r : !ee.request<tensor<256x64xf32>> -> tensor<256x64xf32>
    %t = ee.all_reduce_start %g over tied(@model.embed_tokens.weight)
        : tensor<256x64xf32> -> !ee.request<tensor<256x64xf32>>
    // A scalar too: a stage's share of the squared gradient norm.
    %n = ee.all_reduce_start %squares over pp : f32 -> !ee.request<f32>
  }]>;

def EE_ReduceScatterStartOp : EE_CollectiveStartOp<"reduce_scatter_start",
    "summing a tensor and scattering the sum's blocks (reduce-scatter)", [{
    // The sum's elements in row-major order, in blocks of c = ceil(n / size):
    // rank r of the group gets elements [r c, min(n, (r + 1) c)) (ZeRO-1's
    // shard of a gradient; a rank past the end gets none).
    %r = ee.reduce_scatter_start %g over dp : tensor<256x64xf32> -> !ee.request<tensor<?xf32>>
    %block = ee.wait %r : !ee.request<tensor<?xf32>> -> tensor<?xf32>
  }]>;

def EE_AllGatherStartOp : EE_CollectiveStartOp<"all_gather_start",
    "joining every rank's block into the whole tensor (all-gather)", [{
    // The blocks of ee.reduce_scatter_start, in group rank order, row-major.
    %r = ee.all_gather_start %block over dp : tensor<?xf32> -> !ee.request<tensor<256x64xf32>>
  }]>;

def EE_AllGatherParameterStartOp : EE_Op<"all_gather_parameter_start",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "starts making a parameter whole again from every rank's updated block";
  let description = [{
    ZeRO-1's parameter all-gather: each rank of the data-parallel group has
    updated its block of `param` (`ee.adamw ... dp_shard`, the blocks of
    `ee.reduce_scatter_start`); this copies every rank's block to every rank,
    in place in the parameter. `ee.wait` completes it; nothing may read the
    parameter in between.

    ```mlir
    %r = ee.all_gather_parameter_start @model.norm.weight over dp : !ee.request
    ee.wait %r : !ee.request
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, EE_Group:$group);
  let results = (outs EE_Request:$request);
  let assemblyFormat = [{
    $param `over` $group attr-dict `:` qualified(type($request))
  }];
  let hasVerifier = 1;
}

def EE_WaitOp : EE_Op<"wait"> {
  let summary = "completes a started communication and yields what it delivers";
  let description = [{
    Blocks until the communication of `request` has completed; yields the
    request's payload (a received tensor, a collective's result), or nothing
    for a send. Each request is waited on exactly once.

    ```mlir
    %x = ee.wait %incoming : !ee.request<tensor<?x?x64xf32>> -> tensor<?x?x64xf32>
    ee.wait %sent : !ee.request
    ```
  }];
  let arguments = (ins EE_Request:$request);
  let results = (outs Optional<AnyTypeOf<[AnyRankedTensor, F32]>>:$result);
  let assemblyFormat = [{
    $request attr-dict `:` qualified(type($request)) (`->` type($result)^)?
  }];
  let hasVerifier = 1;
}

def EE_ZerosOp : EE_Op<"zeros", [Pure]> {
  let summary = "an activation of zeros";
  let description = [{
    A tensor of zeros with the given dynamic sizes (a micro-batch's batch and
    sequence lengths, in order): the output gradient of a pipeline stage whose
    output goes nowhere (a partial micro-batch's deepest stage).

    ```mlir
    %g = ee.zeros shape(%b, %s) : tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Variadic<Index>:$sizes);
  let results = (outs EE_Activation:$result);
  let assemblyFormat = "`shape` `(` $sizes `)` attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Tracing
//===----------------------------------------------------------------------===//

def EE_SpanBeginOp : EE_Op<"span_begin"> {
  let summary = "starts a named span of the measured trace";
  let description = [{
    Marks where a span of work begins in a step function (a pipeline stage's
    forward or backward pass of one micro-batch); `ee.span_end` with the same
    name ends it. With `BIN train --trace` the runtime records each span's
    start and end, shown as one box per span of the rank's track. The category
    groups spans (`forward`, `backward`, `partial forward`, `partial backward`).

    ```mlir
    ee.span_begin "F0" category "forward"
    ...
    ee.span_end "F0"
    ```
  }];
  let arguments = (ins StrAttr:$name, StrAttr:$category);
  let assemblyFormat = "$name `category` $category attr-dict";
}

def EE_SpanEndOp : EE_Op<"span_end"> {
  let summary = "ends the named span that ee.span_begin started";
  let description = [{
    ```mlir
    ee.span_end "B3"
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let assemblyFormat = "$name attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

def EE_AdamWOp : EE_Op<"adamw", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "one AdamW step on a parameter and its moments, in place";
  let description = [{
    Updates the parameter `param` and its first and second moments (the
    checkpoint's `exp_avg.<name>` and `exp_avg_sq.<name>`, held by the runtime
    beside the weight) from `grad`: `g = scale * grad` (the global-norm
    clipping factor), `m = beta1 m + (1 - beta1) g`, `v = beta2 v + (1 - beta2)
    g^2`, `param = param (1 - lr weight_decay) - lr / (1 - beta1^step) m /
    (sqrt(v / (1 - beta2^step)) + eps)`, with decoupled weight decay and bias
    correction at the 1-based `step`; `no_decay` (norm weights) drops the decay.
    The gradient is f32; a bf16 parameter is updated on its f32 master weight
    (optimizer state, `master.<name>` in the checkpoint) and then holds the
    master rounded to bf16.
    With `dp_shard` (ZeRO-1) `grad` is this rank's block of the parameter's
    gradient (`ee.reduce_scatter_start` over dp) and only that block of the
    parameter and of its moments is updated: the runtime holds just the
    block's moments.
    Every hyperparameter is an operand: a training step takes them as
    arguments, so `BIN train --lr/--adam-beta1/...` and the learning-rate
    schedule stay host options checked there, one binary for all of them.
    ee-lower-to-eert lowers it to the runtime's `eert_adamw` on the moments of
    the step's optimizer-state table.

    ```mlir
    ee.adamw @model.layers.0.mlp.up_proj.weight, %g lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd : tensor<160x64xf32>
    ee.adamw @model.norm.weight, %gn lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd no_decay : tensor<64xf32>
    ee.adamw @model.layers.0.mlp.up_proj.weight, %block lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd dp_shard : tensor<?xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, AnyRankedTensor:$grad, F32:$lr, I64:$step,
                       F32:$scale, F32:$beta1, F32:$beta2, F32:$eps, F32:$weight_decay,
                       UnitAttr:$no_decay, UnitAttr:$dp_shard);
  let assemblyFormat = [{
    $param `,` $grad `lr` $lr `step` $step `scale` $scale `beta1` $beta1 `beta2` $beta2 `eps` $eps
    `weight_decay` $weight_decay (`no_decay` $no_decay^)? (`dp_shard` $dp_shard^)? attr-dict
    `:` type($grad)
  }];
}

#endif // EE_OPS_TD
