//===- EEAttrs.td - ee dialect attributes and enums --------*- tablegen -*-===//

#ifndef EE_ATTRS_TD
#define EE_ATTRS_TD

include "EEDialect.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def EE_WarmupStyle : I32EnumAttr<"WarmupStyle",
    "how an exit's loss weight moves from its initial to its target value", [
      I32EnumAttrCase<"Linear", 0, "linear">,
      I32EnumAttrCase<"Cosine", 1, "cosine">]> {
  let cppNamespace = "::mlir::ee";
  let genSpecializedAttr = 0;
}

def EE_ExitBranch : I32EnumAttr<"ExitBranch",
    "the layers an exit head runs before its (optional) norm and output embedding", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"MLP", 1, "mlp">,
      I32EnumAttrCase<"Block", 2, "block">]> {
  let cppNamespace = "::mlir::ee";
  let genSpecializedAttr = 0;
}

def EE_Group : I32EnumAttr<"Group",
    "a communication group of the 3D layout, as seen from this rank", [
      I32EnumAttrCase<"TP", 0, "tp">,
      I32EnumAttrCase<"PP", 1, "pp">,
      I32EnumAttrCase<"DP", 2, "dp">,
      I32EnumAttrCase<"Tied", 3, "tied">]> {
  let cppNamespace = "::mlir::ee";
}

def EE_ArenaRegion : I32EnumAttr<"ArenaRegion",
    "the part of an entry point's arena a buffer lies in", [
      I32EnumAttrCase<"PerToken", 0, "per_token">,
      I32EnumAttrCase<"Fixed", 1, "fixed">]> {
  let cppNamespace = "::mlir::ee";
  let genSpecializedAttr = 0;
}

def EE_ExitBranchAttr : EnumAttr<EE_Dialect, EE_ExitBranch, "exit_branch"> {
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Parameter kinds with readable syntax (`true`, `1.0e-05`, `[6, 12]`).
//===----------------------------------------------------------------------===//

class EE_BoolParam<string desc> : AttrOrTypeParameter<"bool", desc> {
  let parser = "::mlir::ee::parseBoolField($_parser)";
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
}

class EE_F64Param<string desc> : AttrOrTypeParameter<"::mlir::ee::F64", desc> {
  let parser = "::mlir::ee::parseF64Field($_parser)";
  let printer = "::mlir::ee::printF64Field($_printer, $_self)";
}

class EE_I64ListParam<string desc> : ArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::ee::parseListField<int64_t>($_parser)";
  let printer = "::mlir::ee::printListField($_printer, $_self)";
}

class EE_OptionalI64ListParam<string desc> : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::ee::parseListField<int64_t>($_parser)";
  let printer = "::mlir::ee::printListField($_printer, $_self)";
}

class EE_F64ListParam<string desc> : ArrayRefParameter<"::mlir::ee::F64", desc> {
  let parser = "::mlir::ee::parseListField<::mlir::ee::F64>($_parser)";
  let printer = "::mlir::ee::printListField($_printer, $_self)";
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def EE_LossWeightAttr : EE_Attr<"LossWeight", "loss_weight"> {
  let summary = "an exit's loss weight schedule w(t)";
  let description = [{
    `w(t)` moves from `init` to `target` over `warmup_iters` iterations and stays
    at `target` afterwards. `linear`: `init + (target - init) * t / warmup_iters`;
    `cosine`: `target + (init - target) * (1 + cos(pi * t / warmup_iters)) / 2`.
    An `init` above `target` gives a cool-down.

    ```mlir
    #ee.loss_weight<init = 0.0, target = 0.25, warmup_iters = 1000, style = cosine>
    ```
  }];
  let parameters = (ins
    EE_F64Param<"weight at iteration 0">:$init,
    EE_F64Param<"weight from iteration warmup_iters on">:$target,
    "int64_t":$warmup_iters,
    EnumParameter<EE_WarmupStyle>:$style);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// w(t) at training iteration `iteration`.
    double valueAt(int64_t iteration) const;
    /// True when w(t) is the same at every iteration.
    bool isConstant() const;
  }];
}

def EE_LayerAttr : EE_Attr<"Layer", "layer"> {
  let summary = "hyper-parameters of a decoder block";
  let description = [{
    Shared by every decoder layer and by exits with a whole block. The head
    dimension is the hidden size divided by `num_heads`.

    ```mlir
    #ee.layer<num_heads = 32, num_kv_heads = 8, rms_norm_eps = 1.0e-05, rope_theta = 10000.0>
    ```
  }];
  let parameters = (ins
    "int64_t":$num_heads,
    "int64_t":$num_kv_heads,
    EE_F64Param<"RMSNorm epsilon">:$rms_norm_eps,
    EE_F64Param<"rotary base">:$rope_theta);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def EE_EarlyExitAttr : EE_Attr<"EarlyExit", "early_exit"> {
  let summary = "the `early_exit` block of a model config";
  let description = [{
    Mirrors the `early_exit` object of the JSON config field by field; list
    fields hold one entry per exit. See docs/config.md for every rule.

    ```mlir
    #ee.early_exit<exit_layer_nums = [6, 12], pre_exit = false,
      exit_layer_weight = [0.25, 0.5], exit_layer_weight_init = [0.0, 0.0],
      exit_layer_weight_warmup_iters = 0, exit_layer_weight_warmup_style = linear,
      exit_layer_temperature = [1.0, 1.0], use_exit_norm = true,
      use_exit_mlp = false, use_exit_block = false,
      untie_exit_output_weights = false>
    ```
  }];
  let parameters = (ins
    EE_I64ListParam<"1-based layers after which (or before which) exits sit">:$exit_layer_nums,
    EE_BoolParam<"exits read their layer's input instead of its output">:$pre_exit,
    EE_F64ListParam<"target loss weight per exit">:$exit_layer_weight,
    EE_F64ListParam<"initial loss weight per exit">:$exit_layer_weight_init,
    "int64_t":$exit_layer_weight_warmup_iters,
    EnumParameter<EE_WarmupStyle>:$exit_layer_weight_warmup_style,
    EE_F64ListParam<"temperature dividing each exit's logits in the loss">:$exit_layer_temperature,
    EE_BoolParam<"exits apply their own RMSNorm">:$use_exit_norm,
    EE_BoolParam<"exits run a branch MLP beside their layer's MLP">:$use_exit_mlp,
    EE_BoolParam<"exits run a whole transformer block">:$use_exit_block,
    EE_BoolParam<"exits have their own output embedding">:$untie_exit_output_weights);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getNumExits() const { return getExitLayerNums().size(); }
    ExitBranch getBranch() const;
    LossWeightAttr getLossWeight(int64_t exit) const;
  }];
}

def EE_ConfigAttr : EE_Attr<"Config", "config"> {
  let summary = "a whole model config (Hugging Face Llama fields + early exits)";
  let description = [{
    The model configuration of docs/config.md, field names as in the JSON file.
    Attached to a module as `ee.config`; the verifier enforces every rule of the
    config, each diagnostic naming the offending field.

    ```mlir
    module attributes {ee.config = #ee.config<vocab_size = 256, hidden_size = 64,
        intermediate_size = 176, num_hidden_layers = 4, num_attention_heads = 4,
        num_key_value_heads = 2, max_position_embeddings = 256,
        rms_norm_eps = 1.0e-05, rope_theta = 10000.0, tie_word_embeddings = true,
        early_exit = #ee.early_exit<...>>} {}
    ```
  }];
  let parameters = (ins
    "int64_t":$vocab_size,
    "int64_t":$hidden_size,
    "int64_t":$intermediate_size,
    "int64_t":$num_hidden_layers,
    "int64_t":$num_attention_heads,
    "int64_t":$num_key_value_heads,
    "int64_t":$max_position_embeddings,
    EE_F64Param<"RMSNorm epsilon">:$rms_norm_eps,
    EE_F64Param<"rotary base">:$rope_theta,
    EE_BoolParam<"the final head uses the input embedding">:$tie_word_embeddings,
    OptionalParameter<"EarlyExitAttr">:$early_exit);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getHeadDim() const { return getHiddenSize() / getNumAttentionHeads(); }
    int64_t getNumExits() const {
      return getEarlyExit() ? getEarlyExit().getNumExits() : 0;
    }
    LayerAttr getLayer() const;
  }];
}

def EE_InferenceSegmentAttr : EE_Attr<"InferenceSegment", "segment"> {
  let summary = "a run of decoder layers that generation calls as one function";
  let description = [{
    `function` runs layers [begin_layer, end_layer) on pipeline `stage`,
    updating the KV caches named in `caches`; the exits in `exits` read its
    output.

    ```mlir
    #ee.segment<function = "gen_segment_0", begin_layer = 0, end_layer = 2, stage = 0,
                caches = ["model.layers.0", "model.layers.1"], exits = [0]>
    ```
  }];
  let parameters = (ins "StringAttr":$function, "int64_t":$begin_layer, "int64_t":$end_layer,
                        "int64_t":$stage, "ArrayAttr":$caches, "ArrayAttr":$exits);
  let assemblyFormat = "`<` struct(params) `>`";
}

def EE_InferenceExitAttr : EE_Attr<"InferenceExit", "exit_plan"> {
  let summary = "an exit head as generation calls it";
  let description = [{
    Exit `exit` (after decoder layer `layer`, reading boundary `boundary`) is
    `function` (logits and confidence); an exit with a whole block has that
    block's KV cache (`caches`) and `kv_function`, which fills it for tokens
    that pass the exit without evaluating it.

    ```mlir
    #ee.exit_plan<exit = 0, layer = 2, boundary = 2, function = "gen_exit_0", caches = []>
    ```
  }];
  let parameters = (ins "int64_t":$exit, "int64_t":$layer, "int64_t":$boundary,
                        "StringAttr":$function, "ArrayAttr":$caches,
                        OptionalParameter<"StringAttr">:$kv_function);
  let assemblyFormat = "`<` struct(params) `>`";
}

def EE_InferenceStageAttr : EE_Attr<"InferenceStage", "inference_stage"> {
  let summary = "a pipeline stage of generation and its cost";
  let description = [{
    Layers [begin_layer, end_layer) and the weights a token reads there
    (`cost`, multiply-adds per token), for the balance report.

    ```mlir
    #ee.inference_stage<begin_layer = 0, end_layer = 2, cost = 5.1e+05>
    ```
  }];
  let parameters = (ins "int64_t":$begin_layer, "int64_t":$end_layer, "FloatAttr":$cost);
  let assemblyFormat = "`<` struct(params) `>`";
}

def EE_InferenceAttr : EE_Attr<"Inference", "inference"> {
  let summary = "ee-generate-inference's early-exit generation plan";
  let description = [{
    How the runtime generates with early exits (docs/generation.md): the
    `method` (`recompute` or `pipeline`), the model's `layers`, the
    `segments` (#ee.segment) that cover them in order, the `exits`
    (#ee.exit_plan), the `final` head's function and the pipeline `stages`
    (#ee.inference_stage) that cover the layers in order. Attached to the
    module as `ee.inference` and carried into the runtime's manifest.

    ```mlir
    module attributes {ee.inference = #ee.inference<method = "recompute", layers = 4,
        segments = [#ee.segment<...>, ...], exits = [#ee.exit_plan<...>],
        final = "gen_final", stages = [#ee.inference_stage<...>]>} {}
    ```
  }];
  let parameters = (ins "StringAttr":$method, "int64_t":$layers, "ArrayAttr":$segments,
                        "ArrayAttr":$exits, "StringAttr":$final, "ArrayAttr":$stages);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def EE_PipelineStageAttr : EE_Attr<"PipelineStage", "pipeline_stage"> {
  let summary = "a pipeline stage of training and the functions that run it";
  let description = [{
    ee-pipeline-partition's stage: decoder layers [begin_layer, end_layer),
    the exits in `exits`, whether it holds the `embedding` and the
    `final_head`, and its estimated cost (training FLOPs per token;
    bytes of weights, gradients and AdamW state; bytes of activations
    held under 1F1B). The later passes name the functions that run it:
    ee-exit-gradients the stage's surrogate loss (`loss_function`) and its
    forward and backward parts after ee-autodiff (`forward_function`,
    `backward_function`; a last stage has only the backward one) with the
    objective's per-head losses the stage reports (`heads`);
    ee-pipeline-step replaces the parts by the stage's `train_step` and
    `grad_step`; ee-data-parallel adds its `update_step`.

    ```mlir
    #ee.pipeline_stage<begin_layer = 0, end_layer = 2, exits = [0], embedding = true,
                       final_head = false, flops_per_token = 3.1e+06,
                       parameter_bytes = 1.2e+06, activation_bytes = 4.5e+05,
                       loss_function = "stage0_loss", heads = [1],
                       train_step = "stage0_train_step", grad_step = "stage0_grad_step">
    ```
  }];
  let parameters = (ins "int64_t":$begin_layer, "int64_t":$end_layer,
                        EE_I64ListParam<"exits on the stage">:$exits,
                        EE_BoolParam<"holds the embedding">:$embedding,
                        EE_BoolParam<"holds the final norm and head">:$final_head,
                        EE_F64Param<"training FLOPs per token">:$flops_per_token,
                        EE_F64Param<"weight, gradient and AdamW bytes">:$parameter_bytes,
                        EE_F64Param<"activation bytes held under 1F1B">:$activation_bytes,
                        OptionalParameter<"StringAttr">:$loss_function,
                        OptionalParameter<"StringAttr">:$forward_function,
                        OptionalParameter<"StringAttr">:$backward_function,
                        EE_OptionalI64ListParam<"per-head loss slots reported">:$heads,
                        OptionalParameter<"StringAttr">:$train_step,
                        OptionalParameter<"StringAttr">:$grad_step,
                        OptionalParameter<"StringAttr">:$update_step);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// This stage with the functions of ee-exit-gradients (null where absent).
    PipelineStageAttr withLossFunctions(StringAttr loss, StringAttr forward, StringAttr backward,
                                        ::llvm::ArrayRef<int64_t> heads) const;
    /// This stage run by ee-pipeline-step's steps instead of its parts.
    PipelineStageAttr withSteps(StringAttr train, StringAttr grad) const;
    /// This stage with ee-data-parallel's update step.
    PipelineStageAttr withUpdateStep(StringAttr update) const;
  }];
}

def EE_TiedParameterAttr : EE_Attr<"TiedParameter", "tied_parameter"> {
  let summary = "a parameter held by several pipeline stages";
  let description = [{
    The stages (ascending, at least two) that hold `parameter` (a weight tied
    between the embedding and an output head); its gradient is their sum.

    ```mlir
    #ee.tied_parameter<parameter = "model.embed_tokens.weight", stages = [0, 1]>
    ```
  }];
  let parameters = (ins "StringAttr":$parameter, EE_I64ListParam<"stages holding it">:$stages);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def EE_PipelineScheduleAttr : EE_Attr<"PipelineSchedule", "pipeline_schedule"> {
  let summary = "ee-pipeline-schedule's 1F1B order and its planned bubble";
  let description = [{
    Per stage, the `order` of its passes: `F<m>`/`B<m>` forward/backward
    of micro-batch m, `f<m>`/`b<m>` those of a partial micro-batch
    (--fill-bubbles; exit losses only). The nominal `bubble_fraction`
    with the partial micro-batches, `plain_bubble_fraction` without,
    how many partial micro-batches were added (`filled_microbatches`)
    and the step's length in FLOPs (`makespan_flops`).

    ```mlir
    #ee.pipeline_schedule<order = [["F0", "F1", "B0", "B1"], ["F0", "B0", "F1", "B1"]],
                          bubble_fraction = 0.33, plain_bubble_fraction = 0.33,
                          filled_microbatches = 0, makespan_flops = 1.2e+09>
    ```
  }];
  let parameters = (ins "ArrayAttr":$order,
                        EE_F64Param<"bubble fraction with partial micro-batches">:$bubble_fraction,
                        EE_F64Param<"bubble fraction of plain 1F1B">:$plain_bubble_fraction,
                        "int64_t":$filled_microbatches,
                        EE_F64Param<"planned step length">:$makespan_flops);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def EE_PipelineAttr : EE_Attr<"Pipeline", "pipeline"> {
  let summary = "the pipeline-parallel training plan";
  let description = [{
    ee-pipeline-partition's plan for sequences of `seq_len` tokens in
    micro-batches of `micro_batch` sequences, `microbatches` of them per
    step: the `stages` (#ee.pipeline_stage, covering the layers in order)
    and the parameters several stages hold (`tied`, #ee.tied_parameter);
    ee-pipeline-schedule adds the `schedule` (#ee.pipeline_schedule).
    Attached to the module as `ee.pipeline` and carried into the runtime's
    manifest, whose train command calls each stage's steps.

    ```mlir
    module attributes {ee.pipeline = #ee.pipeline<seq_len = 64, micro_batch = 1, microbatches = 4,
        stages = [#ee.pipeline_stage<...>, #ee.pipeline_stage<...>],
        tied = [#ee.tied_parameter<parameter = "model.embed_tokens.weight", stages = [0, 1]>],
        schedule = #ee.pipeline_schedule<...>>} {}
    ```
  }];
  let parameters = (ins "int64_t":$seq_len, "int64_t":$micro_batch, "int64_t":$microbatches,
                        "ArrayAttr":$stages, "ArrayAttr":$tied,
                        OptionalParameter<"PipelineScheduleAttr">:$schedule);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The stages, each a verified #ee.pipeline_stage.
    ::llvm::SmallVector<PipelineStageAttr> getStageList() const;
    PipelineAttr withStages(::llvm::ArrayRef<PipelineStageAttr> stages) const;
    PipelineAttr withSchedule(PipelineScheduleAttr schedule) const;
  }];
}

def EE_TensorParallelAttr : EE_Attr<"TensorParallel", "tensor_parallel"> {
  let summary = "ee-tensor-parallel's split of the module's parameters";
  let description = [{
    `size` ranks hold a shard of each parameter named in `split_dims`: its
    dimension 0 (rows) or 1 (columns) divided by `size`; the others are held
    whole by every rank. Attached to the module as `ee.tensor_parallel` and
    carried into the runtime's manifest.

    ```mlir
    module attributes {ee.tensor_parallel = #ee.tensor_parallel<size = 2,
        split_dims = {model.layers.0.mlp.down_proj.weight = 1 : i64}>} {}
    ```
  }];
  let parameters = (ins "int64_t":$size, "DictionaryAttr":$split_dims);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def EE_DataParallelAttr : EE_Attr<"DataParallel", "data_parallel"> {
  let summary = "how ee-data-parallel reduces the update steps' gradients";
  let description = [{
    Gradients are reduced in buckets of at least `bucket_size` elements (an
    MPI count); with `distributed_optimizer` (ZeRO-1) reduce-scattered, each
    replica updating its block. Attached to the module as `ee.data_parallel`
    and carried into the runtime's manifest, which `train` checks its flags
    against.

    ```mlir
    module attributes {ee.data_parallel = #ee.data_parallel<bucket_size = 40000000,
        distributed_optimizer = false>} {}
    ```
  }];
  let parameters = (ins "int64_t":$bucket_size, EE_BoolParam<"ZeRO-1">:$distributed_optimizer);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def EE_BufferAttr : EE_Attr<"Buffer", "buffer"> {
  let summary = "where ee-plan-memory placed a value in its function's arena";
  let description = [{
    A `per_token` buffer (an activation, [batch, seq, features] or [batch,
    seq]) starts at `tokens * offset` bytes of the arena, tokens = batch x
    seq; a `fixed` one (weight-shaped tensors, scalars, communication
    requests) at `tokens * per_token_bytes + offset`. Offsets are multiples of
    64. An op's `ee.buffers` holds one per result (`unit` for a result that
    needs none).

    ```mlir
    %y = ee.rms_norm %x, %w eps 1.0e-05 {ee.buffers = [#ee.buffer<per_token, 256>]}
        : tensor<?x?x64xf32>, tensor<64xf32>
    ```
  }];
  let parameters = (ins EnumParameter<EE_ArenaRegion>:$region, "int64_t":$offset);
  let assemblyFormat = "`<` $region `,` $offset `>`";
  let genVerifyDecl = 1;
}

def EE_ArenaAttr : EE_Attr<"Arena", "arena"> {
  let summary = "the size of a function's planned arena (ee-plan-memory)";
  let description = [{
    A call of the function needs `tokens * per_token_bytes + fixed_bytes`
    bytes of arena (tokens = batch x seq); attached to the function as
    `ee.arena`.

    ```mlir
    func.func @forward(...) attributes {ee.arena = #ee.arena<per_token_bytes = 768, fixed_bytes = 128>}
    ```
  }];
  let parameters = (ins "int64_t":$per_token_bytes, "int64_t":$fixed_bytes);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // EE_ATTRS_TD
