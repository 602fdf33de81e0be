//===- Passes.td - every ee compiler pass ------------------*- tablegen -*-===//

#ifndef EE_PASSES_TD
#define EE_PASSES_TD

include "mlir/Pass/PassBase.td"

def EEExpandPass : Pass<"ee-expand", "::mlir::ModuleOp"> {
  let summary = "Expand model-level ee ops into primitive ops";
  let description = [{
    Rewrites every model-level op (`ee.embedding`, `ee.decoder_layer`, `ee.exit`,
    `ee.final_head`, `ee.exit_loss`) into the primitive ops that a runtime kernel
    implements, materialising its weights with `ee.get_parameter`. A decoder layer
    becomes two RMSNorms, four attention projections, two rotary embeddings, one
    attention, a SwiGLU MLP and two residual additions; an exit becomes its branch
    (MLP or block), its norm and its logits; an exit loss becomes the loss weight
    schedule times the temperature-scaled cross-entropy.

    Fails if a model-level op remains, e.g. when a weight is not declared.

    ```mlir
    // Before:
    %y, %h = ee.decoder_layer %x, %pos weights("model.layers.0") #ee.layer<...> : tensor<?x?x64xf32>
    // After:
    %w = ee.get_parameter @model.layers.0.input_layernorm.weight : tensor<64xf32>
    %n = ee.rms_norm %x, %w eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
    ...
    ```
  }];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::arith::ArithDialect"];
}

def EEMixedPrecisionPass : Pass<"ee-mixed-precision", "::mlir::ModuleOp"> {
  let summary = "bf16 weights and linear-product inputs, f32 everywhere else";
  let description = [{
    What `ee-compile --dtype bf16` adds after ee-expand. Every `ee.parameter`
    becomes bf16 (the model's weights are stored, read and checkpointed in
    bf16, as a Hugging Face bfloat16 checkpoint holds them), and every
    `ee.linear` and `ee.logits` multiplies bf16 factors with f32
    accumulation. The residual stream, attention, rotary embeddings, the
    losses and the exit confidences stay f32; RMSNorm and SwiGLU compute in
    f32 and, where every user of their result is a linear product, round it
    to bf16 themselves; other product inputs get an `ee.convert`, one per
    value. Gradients and the optimizer's master weights stay f32
    (ee-autodiff, the AdamW step).

    Fails, naming it, where a weight is read by an op without a bf16 form.

    ```mlir
    // Before:
    %w = ee.get_parameter @model.layers.0.self_attn.q_proj.weight : tensor<64x64xf32>
    %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xf32>
    %q = ee.linear %n, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
    // After:
    %w = ee.get_parameter @model.layers.0.self_attn.q_proj.weight : tensor<64x64xbf16>
    %n = ee.rms_norm %x, %g eps 1.0e-05 : tensor<?x?x64xf32>, tensor<64xbf16> -> tensor<?x?x64xbf16>
    %q = ee.linear %n, %w : tensor<?x?x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::ee::EEDialect"];
}

def EEPipelinePartitionPass : Pass<"ee-pipeline-partition", "::mlir::ModuleOp"> {
  let summary = "Assign layers and exit heads to pipeline stages for training, with a cost model";
  let description = [{
    Splits the model-level `forward` function's layers into `stages`
    contiguous pipeline stages for 1F1B training and records the plan as the
    module attribute `ee.pipeline` (carried into the binary's manifest, shown
    by `BIN info`). Every piece goes with a stage: the embedding with stage 0,
    an exit with the stage of the layer it reads, the final head with the last
    stage.

    The cost model counts, per stage:
    * training FLOPs per token: 6 per weight use (forward 2, backward 4) of its
      layers and heads, plus causal attention (12 * hidden * seq / 2 per
      layer): an exit head costs its stage as much as the output projection it
      multiplies with, which is why stages holding exits get fewer layers;
    * parameter bytes: 16 per parameter (fp32 weight, gradient, two AdamW
      moments), a weight shared by several stages counted on each;
    * activation bytes held under 1F1B: per micro-batch the saved activations
      of each layer (Korthikanti et al.'s 34 s b h + 5 a s^2 b bytes at 16
      bits, doubled for fp32) and each head's logits and their gradient
      (8 s b V), times the micro-batches stage s holds in flight,
      min(stages - s, microbatches).

    It minimises the most expensive stage's FLOPs and, among splits within 1%
    of it, the largest stage memory; `split` gives the layers per stage
    instead. A remark per stage reports its layers, heads, share of the FLOPs
    and memory (the balance). Parameters held by more than one stage (a tied
    input embedding and output head) are listed under `tied`: their gradients
    are summed across those stages.

    ```mlir
    // stages: per stage begin_layer, end_layer, exits, embedding, final_head,
    // flops_per_token, parameter_bytes, activation_bytes; tied: per shared
    // parameter its name and the stages holding it.
    module attributes {ee.pipeline = {micro_batch = 1 : i64, microbatches = 4 : i64,
                                      seq_len = 128 : i64, stages = [...], tied = [...]}} {
    ```
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"forward\"",
           "The model-level forward function to split">,
    Option<"stages", "stages", "int64_t", /*default=*/"2", "Pipeline stages">,
    ListOption<"split", "split", "int64_t",
               "Layers per stage (instead of the cost model's split)">,
    Option<"seqLen", "seq-len", "int64_t", /*default=*/"0",
           "Training sequence length (0: max_position_embeddings)">,
    Option<"microBatch", "micro-batch", "int64_t", /*default=*/"1",
           "Sequences per micro-batch">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"0",
           "Micro-batches per step (0: as many as stages)">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect"];
}

def EEPipelineSchedulePass : Pass<"ee-pipeline-schedule", "::mlir::ModuleOp"> {
  let summary = "Plan each pipeline stage's 1F1B order over M micro-batches, optionally filling bubbles";
  let description = [{
    From the stages of `ee.pipeline` (ee-pipeline-partition), generates every
    stage's one-forward-one-backward order over the plan's micro-batches:
    stage s runs min(stages - s - 1, M) forward passes of warm-up, then
    alternates a forward and a backward, then drains its backward passes.
    `F<m>` receives micro-batch m's activations from stage s - 1 (stage 0
    embeds them), runs the stage and sends its output to stage s + 1; `B<m>`
    receives the gradient of that output from stage s + 1 (the last stage
    starts from its losses), back-propagates the stage's exit losses plus
    <y_s, g_s> and sends the input's gradient to stage s - 1.

    The order is checked by simulating it with the cost model's durations
    (backward twice the forward; sends complete without waiting, as with
    non-blocking sends): every stage must finish, or the pass fails naming the
    stuck stages. The simulation gives the planned bubble fraction, 1 - busy
    time / (stages x makespan).

    With `fill-bubbles=K`, up to K extra micro-batches (EE-LLM) run only
    through the stages up to the one holding the last exit, forward `f<m>`
    and backward `b<m>`, and only contribute exit losses (the runtime feeds
    them the samples after the step's global batch); each of their
    passes goes into an idle gap of its stage long enough for it, after its
    dependency, so the 1F1B makespan is unchanged and the bubble fraction
    falls. `trace=FILE` writes the planned schedule as a Chrome trace (JSON,
    opens in Perfetto), one track per stage, at a nominal 100 GFLOP/s.

    The order lands in `ee.pipeline` as `schedule` (per stage, its passes) with
    `bubble_fraction` and `makespan_flops`.
  }];
  let options = [
    Option<"fillBubbles", "fill-bubbles", "int64_t", /*default=*/"0",
           "Extra partial micro-batches to fill the 1F1B bubbles with">,
    Option<"trace", "trace", "std::string", /*default=*/"\"\"",
           "Write the planned schedule as a Chrome trace to this file">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect"];
}

def EEGenerateInferencePass : Pass<"ee-generate-inference", "::mlir::ModuleOp"> {
  let summary = "Split the forward pass into the step functions of early-exit generation";
  let description = [{
    From the model-level function named by `function`, generates what
    token-level early-exit generation runs, and records the plan that orders it
    as the module attribute `ee.inference` (the runtime reads it from the
    manifest):

    * `gen_segment_<i>(x, positions, rows) -> (hidden, exit inputs...)`: the
      layers between two consecutive cuts, where the cuts are the places exits
      read and the pipeline stage boundaries; segment 0 starts from the token
      ids (the embedding), the others from a hidden state. The extra results
      are what the exits at the segment's end read (the layer output, or the
      mid-layer residual for MLP exits).
    * `gen_exit_<k>(z, positions, rows) -> (logits, confidence)`: exit `k`'s
      head and its confidence (maximum softmax probability), the early-exit
      criterion; `gen_exit_<k>_kv` for block exits runs just the exit's block,
      so tokens passing the exit without evaluating it still fill its KV cache.
    * `gen_final(h, positions, rows) -> logits`.

    Every function with attention is marked `ee.kv_cache`: ee-kv-cache gives
    it KV caches indexed by `rows`, the cache row (sequence) of each token, so
    one call can run tokens of several sequences with different counts.

    The methods share these functions and differ in how the runtime drives
    them. `recompute` (KV recomputation): a token that exits keeps its hidden
    state at the exit; the deeper layers' KV entries it left missing are
    computed later, batched with the next token that runs those layers.
    `pipeline`: each of `stages` ranks runs the segments of its layers; when
    a token exits on a stage, stage 0 starts the next token while the later
    stages finish the exited token and fill their caches. The layers are split
    into stages by a cost model (weights read per token: layers, exit heads
    and the final head) that minimises the most expensive stage and, among
    near-equal splits, cuts where exits read; `split` gives the layers per
    stage explicitly.

    ```mlir
    func.func @gen_segment_1(%h: tensor<?x?x64xf32>, %pos: tensor<?x?xi32>, %rows: tensor<?x?xi32>)
        -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) attributes {ee.kv_cache = 2 : i64} {
      %y, %r = ee.decoder_layer %h, %pos layer #ee.layer<...> weights("model.layers.2") : ...
      ...
    }
    ```
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"forward\"",
           "The model-level forward function to split">,
    Option<"method", "method", "std::string", /*default=*/"\"recompute\"",
           "The default method: recompute (KV recomputation) or pipeline">,
    Option<"stages", "stages", "int64_t", /*default=*/"1",
           "Pipeline stages (ranks) of the pipeline method">,
    ListOption<"split", "split", "int64_t",
               "Layers per pipeline stage (instead of the cost model's split)">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::func::FuncDialect"];
}

def EEKVCachePass : Pass<"ee-kv-cache", "::mlir::ModuleOp"> {
  let summary = "Derive a KV-cached step function from a forward function";
  let description = [{
    Clones the function named by `function` into `<function>_kv`, in which every
    causal attention reads and extends a KV cache: each `ee.attention` gains a
    key and a value cache argument `tensor<?x P x F>` (P = the config's
    `max_position_embeddings`, F = the key features) and the token positions of
    its rotary embedding, and the updated caches are returned after the
    original results. Called with the prompt and then one token at a time, it
    generates without recomputing earlier tokens. With an empty `function`
    only the marked functions are converted.

    Functions carrying `ee.kv_cache = i` (from ee-generate-inference) are
    converted in place instead, their attentions indexing the caches by the
    cache rows in argument `i` (`ee.attention ... rows(%rows)`).

    ```mlir
    %o = ee.attention %q, %k, %v heads 4 kv_heads 2 : (...) -> tensor<?x?x128xf32>
    // in forward_kv:
    %o, %kc, %vc = ee.attention %q, %k, %v cache(%kc0, %vc0) positions(%pos) heads 4 kv_heads 2 : (...) -> (...)
    ```
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"forward\"",
           "The function to derive the cached step function from">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::func::FuncDialect"];
}

def EEExitGradientsPass : Pass<"ee-exit-gradients", "::mlir::ModuleOp"> {
  let summary = "Build each pipeline stage's surrogate loss L_aux (EE-LLM)";
  let description = [{
    Splits the model-level `function` (forward) and `objective` (loss) along
    the stages of `ee.pipeline` (ee-pipeline-partition). Every stage gets

    ```
    stage<s>_loss(x, positions, labels, iteration[, g_s])
        -> (L_aux_s, objective_s, reported head losses...[, y_s])
    L_aux_s = sum_{exits k on s} w_k(t) L_k [+ L_final on the last stage] + <y_s, g_s>
    ```

    (the first stage embeds token ids instead of receiving x), marked
    `ee.differentiate` with respect to x, so ee-autodiff derives the
    gradients of the stage's parameters and of x. With `g_s` the gradient of
    the objective with respect to y_s (received from stage s + 1) held
    constant, these are exactly the global objective's gradients: each term of
    the objective belongs to one stage, and pipeline training sends nothing but
    activations forward and their gradients back. `objective_s` (the stage's
    terms without the inner product) adds up over the stages to the loss.

    Every stage but the last also returns y_s and is marked
    `ee.split_backward` at g_s: ee-autodiff splits its backward function into
    `stage<s>_loss_fwd` (run when the micro-batch arrives: losses, y_s to send
    on, the activations to keep) and `stage<s>_loss_bwd` (run when g_s comes
    back), the forward and backward passes of 1F1B. The last stage runs
    `stage<s>_loss_grad` at once.

    The plan's stages gain `loss_function`, `forward_function` (but the
    last), `backward_function` and `heads` (the indices among the objective's
    reported losses, 0 the final head and 1 + k exit k, that the stage returns
    after objective_s).

    ```mlir
    func.func @stage1_loss(%x: tensor<?x?x64xf32>, %positions: tensor<?x?xi32>,
                           %labels: tensor<?x?xi32>, %iteration: i64,
                           %g: tensor<?x?x64xf32>) -> (f32, f32, f32, tensor<?x?x64xf32>)
        attributes {ee.differentiate = array<i64: 0>, ee.split_backward = array<i64: 4>} {
      ...
      %p = ee.inner_product %y, %g : tensor<?x?x64xf32>
      %aux = arith.addf %objective, %p : f32
      return %aux, %objective, %exit1, %y : f32, f32, f32, tensor<?x?x64xf32>
    }
    ```
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"forward\"",
           "The model-level forward function">,
    Option<"objective", "objective", "std::string", /*default=*/"\"loss\"",
           "The training objective calling it">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect"];
}

def EETensorParallelPass : Pass<"ee-tensor-parallel", "::mlir::ModuleOp"> {
  let summary = "Split weights and activations over tensor-parallel ranks (Megatron-LM)";
  let description = [{
    Rewrites every function of (inlined) primitive ops into what each of
    `size` tensor-parallel ranks runs on its shards, before ee-autodiff
    derives the backward pass:

    * the q, k, v projections and SwiGLU's gate and up projections are split
      by output rows (column-parallel): each rank computes its heads (its
      query heads and their KV heads, so grouped-query attention stays local)
      and its block of the FFN;
    * the projections out of attention and SwiGLU (o, down) are split by
      input columns (row-parallel): their partial sums are added over the
      group by `ee.tp_all_reduce`;
    * the embedding and every output head (the final head and each exit's)
      are split by vocabulary rows: a vocab-parallel lookup followed by
      `ee.tp_all_reduce`, and vocab-parallel logits whose cross-entropy
      combines the softmax over the group (`vocab_parallel`);
    * the replicated input of every column-parallel or vocab-parallel
      projection goes through `ee.tp_copy`, whose gradient is all-reduced.

    Norm weights stay whole. The projections are recognised by structure
    (what feeds attention or SwiGLU and what reads them), which covers the
    decoder layers, exit MLP branches and exit blocks. `size` must divide the
    attention heads, the KV heads, the intermediate size and the vocabulary.
    Parameters take their shard's type; the module attribute
    `ee.tensor_parallel = #ee.tensor_parallel<size, split_dims>` records the split dimension of
    each split parameter for the runtime, which reads and writes the shards
    of whole checkpoint tensors.

    ```mlir
    %x1 = ee.tp_copy %x : tensor<?x?x64xf32>
    %q = ee.linear %x1, %wq : tensor<?x?x64xf32>, tensor<32x64xf32> -> tensor<?x?x32xf32>
    ...
    %o = ee.linear %a, %wo : tensor<?x?x32xf32>, tensor<64x32xf32> -> tensor<?x?x64xf32>
    %o1 = ee.tp_all_reduce %o : tensor<?x?x64xf32>
    ```
  }];
  let options = [
    Option<"size", "size", "int64_t", /*default=*/"1", "Tensor-parallel ranks">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::func::FuncDialect"];
}

def EEAutodiffPass : Pass<"ee-autodiff", "::mlir::ModuleOp"> {
  let summary = "Generate the backward pass of the training objective";
  let description = [{
    From the (inlined) function named by `function`, `(ids, positions, labels,
    iteration) -> (loss, metrics...)`, builds `<function>_grad` returning the
    loss, the gradient of every `ee.parameter` (in declaration order) and the
    metrics. Every function marked `ee.differentiate = array<i64: ...>` (a
    pipeline stage's surrogate loss from ee-exit-gradients) gets a `_grad`
    function too, with the gradients of the parameters it reads followed by
    those of the arguments listed (the input activation, whose gradient the
    stage sends back to the previous one). A function also marked
    `ee.split_backward = array<i64: ...>` (arguments only the backward pass
    has, such as the gradient a pipeline stage receives) is split instead into
    `_fwd` (without those arguments; returns the function's results after the
    loss, then the activations the backward pass reads) and `_bwd` (the
    arguments and those activations; returns the loss and the gradients);
    parameter reads and scalar arithmetic are recomputed in `_bwd` rather than
    kept. Each
    `_grad` function lists its parameters in `ee.gradients`. The backward code
    is generated from one vector-Jacobian rule per primitive op (the
    `ee.*_grad` ops), in reverse program order, accumulating with `ee.add`
    where a value (e.g. a tied embedding) is used several times. Pipeline
    traffic has rules too: the adjoint of an `ee.send` of a differentiable
    tensor is an `ee.recv` of its gradient from the same peer under the same
    tag (waited on where the gradient is needed), and a tensor received by
    `ee.recv` + `ee.wait` is differentiable like a listed argument, its
    gradient sent back to the peer (those sends are waited on just before the
    function returns).

    The forward values a rule reads are the saved activations. `recompute`
    trades memory for work: `none` keeps every one of them alive until the
    backward pass reads it; `selective` recomputes the attention-related values
    (rotary embeddings, attention outputs) and SwiGLU activations in the
    backward pass; `full` keeps only the residual stream (the `ee.add` results)
    and recomputes everything else of a layer just before its backward pass.

    ```mlir
    func.func @loss_grad(%ids, %pos, %labels, %iter)
        -> (f32, tensor<256x64xf32>, tensor<64xf32>, ...)
    ```
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"loss\"",
           "The objective to differentiate">,
    Option<"recompute", "recompute", "std::string", /*default=*/"\"none\"",
           "Saved activations: none (save all), selective or full (recompute)">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect", "::mlir::tensor::TensorDialect"];
}

def EEPipelineStepPass : Pass<"ee-pipeline-step", "::mlir::ModuleOp"> {
  let summary = "Materialize each pipeline stage's 1F1B training step with its sends, receives and waits";
  let description = [{
    From the per-stage order of `ee.pipeline` (ee-pipeline-schedule) and the
    stage functions of ee-exit-gradients and ee-autodiff, builds for every
    stage `s`

    ```
    stage<s>_train_step(ids_0, positions_0, labels_0, ..., ids_N-1, positions_N-1,
                        labels_N-1, iteration, grad_scale)
        -> (objective_s, heads_s..., gradients...)
    ```

    over the step's N = M + K micro-batches (K partial ones of
    `--fill-bubbles`): straight-line calls of the stage's forward
    (`stage<s>_loss_fwd`) and backward (`stage<s>_loss_bwd`, or
    `stage<s>_loss_grad` on the last stage) functions in the planned order,
    with the pipeline traffic placed by the pass. Micro-batch `m`'s activation
    travels to the next stage and its gradient back as message `m`. Each
    receive is posted one pass before the pass that reads it and waited on
    just before the call that reads it; each send is posted right after the
    call that produces it and waited on before the next send to the same peer
    (or before the step returns), so at most one message per direction is in
    flight. The first stage reads token ids instead of receiving; a partial
    micro-batch's deepest stage sends nothing on and back-propagates a zero
    output gradient (`ee.zeros`).

    `objective_s` and each of the stage's head losses are the means over the
    M whole micro-batches (partial ones only add exit-loss gradients); the
    gradients (named in `ee.gradients`) are summed over all N backward passes
    and multiplied by `grad_scale` (the host passes 1 / (M x data-parallel
    size)). Every pass is an `ee.span_begin`/`ee.span_end` pair named as in the
    schedule (`F3`, `b5`), which `BIN train --trace` records. `stage<s>_grad_step`
    is the same for one whole micro-batch (`BIN grad`).

    The activations a micro-batch keeps between its forward and backward pass
    are ordinary values of the step function, so the memory planner of
    ee-plan-memory gives every micro-batch in flight its region. The stage
    functions become private (inlined into the steps, then dropped).

    The result is checked for deadlock on the IR: every stage's sends,
    receives and waits are run against each other, a send's wait completing
    only once its receiver waits for it (the strictest reading of MPI's
    rules); a wait that can never complete fails the pass, naming each stuck
    stage and its op. So is a message without its matching partner. A module
    without `ee.pipeline`, or with a plan of one stage, is left as it is.

    ```mlir
    func.func @stage1_train_step(...) -> (f32, f32, f32, tensor<256x64xf32>, ...)
        attributes {ee.stage = 1 : i64, ee.gradients = [...]} {
      %r0 = ee.recv from -1 tag 0 shape(%b0, %s0) : !ee.request<tensor<?x?x64xf32>>
      ee.span_begin "F0" category "forward"
      ee.span_end "F0"
      %r1 = ee.recv from -1 tag 1 shape(%b1, %s1) : !ee.request<tensor<?x?x64xf32>>
      ee.span_begin "B0" category "backward"
      %x0 = ee.wait %r0 : !ee.request<tensor<?x?x64xf32>> -> tensor<?x?x64xf32>
      %out:35 = func.call @stage1_loss_grad(%x0, %pos0, %labels0, %iteration) : ...
      %d0 = ee.send %out#31 to -1 tag 0 : tensor<?x?x64xf32> -> !ee.request
      ee.span_end "B0"
      ...
    ```
  }];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect", "::mlir::tensor::TensorDialect"];
}

def EEDataParallelPass : Pass<"ee-data-parallel", "::mlir::ModuleOp"> {
  let summary = "Complete each rank's training step: gradient all-reduce overlapped with the backward pass, clipping, AdamW";
  let description = [{
    Builds the function each rank calls once per training step, from inlined
    training code: with one pipeline stage from `loss_grad` (ee-autodiff, one
    micro-batch's backward pass),

    ```
    update_step(ids, positions, labels, iteration, grad_scale, accumulated...,
                lr, step, max_norm, beta1, beta2, eps, weight_decay)
        -> (loss, metrics..., grad_norm)
    ```

    where `accumulated` are the summed gradients of the step's earlier
    micro-batches (zeros with one); with several stages from every
    `stage<s>_train_step` (ee-pipeline-step), `stage<s>_update_step` with the
    train step's arguments followed by the same seven hyperparameters, and its
    losses followed by `grad_norm` (recorded as `update_step` in the stage's
    entry of `ee.pipeline`). The gradient functions stay (the `grad` command,
    ZeRO-1's sharded update on the host).

    In the update step:

    1. Each gradient is made final where its last term is computed: the
       earlier micro-batches' sum and `grad_scale` (1 / (M x data-parallel
       size)) join the last backward pass's gradient right after it, and a
       stage step's last sum and scale move up to the last pass's gradient
       (the backward pass is otherwise unchanged).
    2. Gradients are grouped into buckets of at least `bucket-size` elements
       in the order they become final (the reverse of the forward order,
       mostly); the `ee.all_reduce_start ... over dp` of every gradient of a
       bucket is placed right after the bucket's last gradient, so the sums
       travel while the backward pass goes on. Each gradient is its own
       collective over its own buffer (no flat copy, one message per tensor).
       Every sum is waited on (`ee.wait`) after the backward pass.
    3. A tied weight's gradient (held by several stages) is sent by each
       holder to the others (`ee.send`/`ee.recv`, tags after the pipeline's)
       and summed in stage order, so every holder has the same bits. The
       traffic is checked for deadlock as ee-pipeline-step's is.
    4. The global norm counts each weight once: squared norms
       (`ee.inner_product`) of the weights a stage owns (the first stage
       holding it), the tensor-parallel shards' sum all-reduced over `tp`, the
       stage's total over `pp`, then `math.sqrt`. The clipping factor is
       `max_norm / (norm + 1e-6)` when `max_norm > 0` and the norm exceeds it,
       else 1.
    5. `ee.adamw` updates every parameter the rank holds with that factor;
       weights of rank 1 (norm weights) get no decay.

    With `distributed-optimizer` (ZeRO-1) the collective of step 2 is
    `ee.reduce_scatter_start`: each replica gets its block of each summed
    gradient (blocks of ceil(n / data-parallel size) elements), the norm adds
    the blocks' squares over `dp` too, `ee.adamw ... dp_shard` updates the
    replica's block of the parameter with moments of that block only, and
    `ee.all_gather_parameter_start` makes each parameter whole again, started
    right after its update and waited before the step returns. A tied
    weight's stages exchange its whole gradient first (step 3), and its
    reduce-scatter starts after their sum.

    ```mlir
    %g = ee.scale %sum, %grad_scale : tensor<64x64xf32>
    %r = ee.all_reduce_start %g over dp : tensor<64x64xf32> -> !ee.request<tensor<64x64xf32>>
    ... the rest of the backward pass ...
    %dg = ee.wait %r : !ee.request<tensor<64x64xf32>> -> tensor<64x64xf32>
    %sq = ee.inner_product %dg, %dg : tensor<64x64xf32>
    ...
    ee.adamw @model.layers.0.mlp.up_proj.weight, %dg lr %lr step %step scale %clip
        beta1 %b1 beta2 %b2 eps %eps weight_decay %wd : tensor<64x64xf32>
    ```

    The module gets `ee.data_parallel = #ee.data_parallel<bucket_size,
    distributed_optimizer>`, which the runtime's manifest carries.

    A module without `function` and without a pipeline plan is left as it is.
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"loss_grad\"",
           "The one-stage backward function the update step is made from">,
    Option<"bucketSize", "bucket-size", "int64_t", /*default=*/"40000000",
           "Elements per gradient all-reduce bucket (Megatron-LM's --ddp-bucket-size)">,
    Option<"distributedOptimizer", "distributed-optimizer", "bool", /*default=*/"false",
           "ZeRO-1: reduce-scatter the gradients, update each replica's block of every "
           "parameter, all-gather the parameters (Megatron-LM's --use-distributed-optimizer)">,
  ];
  let dependentDialects = ["::mlir::ee::EEDialect", "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect", "::mlir::math::MathDialect"];
}

def EEPlanMemoryPass : Pass<"ee-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Place every value of each function in its arena (static memory plan)";
  let description = [{
    Plans the arena of each single-block function of primitive `ee` ops and
    records the plan on the IR for ee-lower-to-eert: every activation is
    `[tokens, features]` with `tokens = batch * seq`, so its slice of the
    arena sits at `tokens * offset` with a per-token offset found by first
    fit over the values' live ranges (a value's slice is free again after the
    op that last reads it); weight-shaped tensors (gradients), scalars and
    communication requests are planned the same way in a fixed region after
    the per-token one. A received tensor lives from its `ee.recv` to the last
    read of what its wait yields (the runtime writes into it meanwhile), a
    sent one until the send's wait, and an all-reduce or reduce-scatter of a
    tensor nothing else reads sums the tensor's own buffer, which then lives
    as long as the sum. Each op gets `ee.buffers` (one `#ee.buffer<region,
    offset>` or `unit` per result; ops whose results need no memory of their
    own, parameters and what a wait delivers in place, get none) and each
    function `ee.arena = #ee.arena<per_token_bytes = P, fixed_bytes = F>`: a
    call needs `tokens * P + F` bytes.

    ```mlir
    %y = ee.rms_norm %x, %w eps 1.0e-05 {ee.buffers = [#ee.buffer<per_token, 256>]}
        : tensor<?x?x64xf32>, tensor<64xf32>
    %g = ee.linear_grad_weight %dy, %x {ee.buffers = [#ee.buffer<fixed, 0>]}
        : tensor<?x?x64xf32>, tensor<?x?x64xf32> -> tensor<64x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::ee::EEDialect"];
}

def EELowerToEERTPass : Pass<"ee-lower-to-eert", "::mlir::ModuleOp"> {
  let summary = "Lower planned functions of primitive ee ops to eert runtime calls";
  let description = [{
    Turns every function of expanded, inlined primitive `ee` ops on tensors into
    a function over raw buffers that calls the runtime:

    ```
    int32_t ee_<name>(const float *const *params, char *arena, int64_t batch,
                      int64_t seq, void *const *inputs, void **outputs);
    ```

    `params[i]` is the i-th `ee.parameter` (declaration order); `inputs[i]`
    points at the i-th argument (token tensors, KV caches, scalars);
    `outputs[k]` receives a pointer to the k-th result. The return value is 0,
    or the failing runtime call's status (its message is `eert_last_error()`).

    Each value's buffer is where ee-plan-memory placed it (`ee.buffers`,
    `ee.arena`; a function without a plan is refused): `arena + tokens *
    offset` in the per-token region, `arena + tokens * per_token_bytes +
    offset` in the fixed one.

    Pipeline traffic (ee-pipeline-step) becomes non-blocking runtime calls:
    `ee.recv` posts `eert_comm_irecv` into the buffer its `ee.wait` yields,
    which stays allocated until that value's last read; `ee.send` posts
    `eert_comm_isend`, and its tensor stays allocated until the send's wait;
    the peer is `eert_comm_group_peer` over the pipeline group and the tag the
    IR's plus 1000. `ee.zeros` is `eert_memory_zero`; `ee.span_begin`/`ee.span_end`
    call `eert_trace_begin`/`eert_trace_end` with the span's number among the
    entry's `spans` in the manifest. The generated code never reads or writes
    arena memory itself (it may be a GPU's): copies (`ee.tp_copy`), zero fills
    and scalar results (losses, norms) go through `eert_memory_copy`,
    `eert_memory_zero`, `eert_memory_load_f32` and `eert_memory_store_f32`.

    It runs in three steps. The entry-point wrapper builds `ee_<name>` with
    the calling convention above: a prologue that loads the inputs, the
    function's ops moved in, an epilogue that stores the outputs. Dialect
    conversion then applies one pattern per ee op (a type converter maps
    tensors and requests to `!llvm.ptr`), each emitting the op's runtime
    calls over the planned buffers; what no pattern lowers is refused before
    with its reason, and scalar `arith`/`math` stays as it is. Last, each
    call's status is checked: right after the call, or for collectives'
    starts and waits combined (the first failure kept) and checked before an
    update, a message, every 16 statuses and the return, so thousands of
    gradient collectives need no block each.

    Each entry point gets its manifest record as the dictionary `ee.entry`
    (name, symbol, arena sizes, the kinds of its inputs and outputs, spans,
    the parameters it updates, its gradients' parameters), which
    ee-emit-manifest gathers; the `ee.parameter` declarations stay for it.
  }];
  let dependentDialects = ["::mlir::eert::EERTDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect", "::mlir::cf::ControlFlowDialect",
                           "::mlir::math::MathDialect", "::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def EEEmitManifestPass : Pass<"ee-emit-manifest", "::mlir::ModuleOp"> {
  let summary = "Write the runtime's JSON manifest of a lowered module";
  let description = [{
    Gathers into the null-terminated JSON string `@ee_manifest` (an
    `llvm.mlir.global`, which the runtime reads from the binary): the model
    config (`ee.config`, exported as the JSON config), the parameters in
    declaration order with their shapes (the order of every entry point's
    `params` table), the `ee.entry` record of every entry point
    (ee-lower-to-eert) in module order, and the inference, pipeline,
    data-parallel and tensor-parallel plans. The `ee.parameter` declarations
    and those attributes are removed: what is left is eert and LLVM-level.

    ```mlir
    llvm.mlir.global external constant @ee_manifest("{\22config\22:{...},\22entries\22:[...],...}\00")
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def EERTToLLVMPass : Pass<"eert-to-llvm", "::mlir::ModuleOp"> {
  let summary = "Lower eert ops to calls of the runtime's C functions";
  let description = [{
    Declares every runtime entry point of `runtime/include/eert/abi.def` that
    the module calls (as `llvm.func`, from the same list the runtime's header is
    made from) and replaces each eert op with an `llvm.call`. Fails when an op's
    operand or result types differ from the declaration.

    ```mlir
    eert.rms_norm %x, %w, %y, %rows, %cols, %eps : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> ()
    // becomes
    llvm.call @eert_rms_norm(%x, %w, %y, %rows, %cols, %eps) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, f32) -> ()
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // EE_PASSES_TD
