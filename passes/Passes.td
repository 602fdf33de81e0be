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

#endif // EE_PASSES_TD
