//===- EEDialect.td - the early-exit transformer dialect ---*- tablegen -*-===//

#ifndef EE_DIALECT_TD
#define EE_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def EE_Dialect : Dialect {
  let name = "ee";
  let cppNamespace = "::mlir::ee";
  let summary = "Early-exit decoder-only transformers: model-level and primitive ops";
  let description = [{
    The `ee` dialect describes a Llama-style decoder-only transformer with early
    exits (the EE-LLM model family) at two levels:

    * **Model level**: `ee.embedding`, `ee.decoder_layer`, `ee.exit`,
      `ee.final_head` and `ee.exit_loss` name whole architectural pieces. They
      refer to their weights by the checkpoint names of `ee.parameter`
      declarations, so an imported model reads like its config.
    * **Primitive level**: the ops the model-level ops expand into
      (`ee.rms_norm`, `ee.linear`, `ee.rotary`, `ee.attention`, `ee.swiglu`,
      `ee.add`, `ee.embedding_lookup`, `ee.logits`, `ee.cross_entropy`,
      `ee.exit_confidence`, `ee.loss_weight`). Weights are SSA values produced by
      `ee.get_parameter`. Each primitive maps onto one runtime kernel.

    A module holding an `ee` model carries its configuration as the discardable
    attribute `ee.config` (a `#ee.config`), verified against every rule of the
    model config (see docs/config.md).

    Activations are ranked f32 tensors `[batch, seq, features]` with dynamic batch
    and sequence sizes; model dimensions are static.
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasConstantMaterializer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    void registerAttributes();
    void registerTypes();

    /// Name of the module attribute holding the model's `#ee.config`.
    static constexpr ::llvm::StringLiteral getConfigAttrName() {
      return ::llvm::StringLiteral("ee.config");
    }
    /// Module attribute (string): the config's `torch_dtype`, how its
    /// checkpoint's tensors are stored; `ee-compile --dtype` defaults to
    /// bf16 where it is "bfloat16".
    static constexpr ::llvm::StringLiteral getTorchDtypeAttrName() {
      return ::llvm::StringLiteral("ee.torch_dtype");
    }
    /// Function attribute (integer): give every attention of the function a KV
    /// cache indexed by the cache rows in the argument it names (ee-kv-cache).
    static constexpr ::llvm::StringLiteral getKVCacheAttrName() {
      return ::llvm::StringLiteral("ee.kv_cache");
    }
    /// Module attribute (#ee.inference): the early-exit inference plan of
    /// ee-generate-inference, carried into the runtime's manifest.
    static constexpr ::llvm::StringLiteral getInferenceAttrName() {
      return ::llvm::StringLiteral("ee.inference");
    }
    /// Module attribute (#ee.pipeline): the pipeline-parallel training plan
    /// of ee-pipeline-partition (stages) and ee-pipeline-schedule (their
    /// 1F1B order), which the later passes extend with the stages'
    /// functions; carried into the runtime's manifest.
    static constexpr ::llvm::StringLiteral getPipelineAttrName() {
      return ::llvm::StringLiteral("ee.pipeline");
    }
    /// Module attribute (#ee.tensor_parallel): ee-tensor-parallel's split,
    /// `size` ranks and per split parameter the dimension divided among them
    /// (0 rows, 1 columns); carried into the runtime's manifest.
    static constexpr ::llvm::StringLiteral getTensorParallelAttrName() {
      return ::llvm::StringLiteral("ee.tensor_parallel");
    }
    /// Function attribute (array of argument indices): ee-autodiff
    /// differentiates this function too, with respect to the parameters it
    /// reads and the arguments listed (a pipeline stage's surrogate loss and
    /// its input activation).
    static constexpr ::llvm::StringLiteral getDifferentiateAttrName() {
      return ::llvm::StringLiteral("ee.differentiate");
    }
    /// Function attribute (array of argument indices) beside
    /// ee.differentiate: ee-autodiff splits the backward function into a
    /// forward part without these arguments and a backward part with them
    /// (a pipeline stage's forward and backward passes of 1F1B).
    static constexpr ::llvm::StringLiteral getSplitBackwardAttrName() {
      return ::llvm::StringLiteral("ee.split_backward");
    }
    /// Function attribute (array of strings) on a generated backward
    /// function: the parameter whose gradient each of its gradient results
    /// is, in order; carried into the runtime's manifest.
    static constexpr ::llvm::StringLiteral getGradientsAttrName() {
      return ::llvm::StringLiteral("ee.gradients");
    }
    /// Function attribute (integer): the pipeline stage whose training step
    /// this function is (ee-pipeline-step).
    static constexpr ::llvm::StringLiteral getStageAttrName() {
      return ::llvm::StringLiteral("ee.stage");
    }
    /// Module attribute (#ee.data_parallel): how ee-data-parallel reduces the
    /// gradients of the update steps (bucket size, ZeRO-1).
    static constexpr ::llvm::StringLiteral getDataParallelAttrName() {
      return ::llvm::StringLiteral("ee.data_parallel");
    }
    /// Op attribute (array, one #ee.buffer or unit per result): where
    /// ee-plan-memory placed the op's results.
    static constexpr ::llvm::StringLiteral getBuffersAttrName() {
      return ::llvm::StringLiteral("ee.buffers");
    }
    /// Function attribute (#ee.arena): the planned arena's size.
    static constexpr ::llvm::StringLiteral getArenaAttrName() {
      return ::llvm::StringLiteral("ee.arena");
    }
    /// Function attribute (dictionary) on an entry point of ee-lower-to-eert:
    /// what the runtime's manifest says of it (its symbol, arena, inputs,
    /// outputs, spans, updates), gathered by ee-emit-manifest.
    static constexpr ::llvm::StringLiteral getEntryAttrName() {
      return ::llvm::StringLiteral("ee.entry");
    }
  }];
}

class EE_Op<string mnemonic, list<Trait> traits = []>
    : Op<EE_Dialect, mnemonic, traits>;

class EE_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<EE_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // EE_DIALECT_TD
