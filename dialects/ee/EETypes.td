//===- EETypes.td - ee dialect types -----------------------*- tablegen -*-===//

#ifndef EE_TYPES_TD
#define EE_TYPES_TD

include "EEDialect.td"
include "mlir/IR/AttrTypeBase.td"

def EE_RequestType : TypeDef<EE_Dialect, "Request"> {
  let mnemonic = "request";
  let summary = "a started communication, completed by ee.wait";
  let description = [{
    What `ee.send`, `ee.recv` and the collective starts return: the
    communication runs while the ops after it compute, and `ee.wait` completes
    it. The payload is the tensor the wait delivers (a receive's message, a
    collective's result); a send delivers nothing and has none.

    ```mlir
    %sent = ee.send %y to 1 tag 0 : tensor<?x?x64xf32> -> !ee.request
    %incoming = ee.recv from -1 tag 0 shape(%b, %s) : !ee.request<tensor<?x?x64xf32>>
    ```
  }];
  let parameters = (ins OptionalParameter<"::mlir::Type">:$payload);
  let assemblyFormat = "(`<` $payload^ `>`)?";
}

#endif // EE_TYPES_TD
