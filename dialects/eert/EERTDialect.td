//===- EERTDialect.td - buffer-level runtime calls ---------*- tablegen -*-===//

#ifndef EERT_DIALECT_TD
#define EERT_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/Dialect/LLVMIR/LLVMOpBase.td"

def EERT_Dialect : Dialect {
  let name = "eert";
  let cppNamespace = "::mlir::eert";
  let summary = "Buffer-level calls into the eert runtime, one op per C entry point";
  let description = [{
    Each op is one call of a runtime entry point declared in
    `runtime/include/eert/abi.def`; its operands are that function's
    parameters in order: buffers as `!llvm.ptr`, sizes as `i64`, scalars as
    `f32`. Entry points that can fail return an `i32` status (0 = success).
    `eert-to-llvm` turns every op into an `llvm.call` of the function declared
    from the same `abi.def`, and checks that the operand types match it.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

class EERT_Op<string mnemonic, list<Trait> traits = []>
    : Op<EERT_Dialect, mnemonic, traits> {
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  /// The runtime function this op calls.
  code extraBaseClassDeclaration = [{
    static ::llvm::StringRef getRuntimeFunctionName() { return "eert_}] # mnemonic # [{"; }
  }];
  let extraClassDeclaration = extraBaseClassDeclaration;
}

#endif // EERT_DIALECT_TD
