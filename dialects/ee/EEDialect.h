//===- EEDialect.h - the ee dialect, its enums and attributes ---*- C++ -*-===//

#ifndef EE_DIALECT_EEDIALECT_H
#define EE_DIALECT_EEDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/bit.h"

#include "ee/EEDialect.h.inc"
#include "ee/EEEnums.h.inc"

namespace mlir::ee {

/// A double stored in attribute parameters: llvm::hash_value has no overload
/// for floating point, so this wrapper hashes the bit pattern.
struct F64 {
  F64(double value = 0.0) : value(value) {}
  operator double() const { return value; }
  bool operator==(const F64 &other) const {
    return llvm::bit_cast<uint64_t>(value) == llvm::bit_cast<uint64_t>(other.value);
  }
  friend llvm::hash_code hash_value(F64 f) {
    return llvm::hash_value(llvm::bit_cast<uint64_t>(f.value));
  }
  double value;
};

// Field syntax of the ee attributes: `true`/`false`, shortest round-tripping
// decimal floats, and bracketed lists `[6, 12]`.
FailureOr<bool> parseBoolField(AsmParser &parser);
/// The shortest text that reads back as `value` in MLIR float syntax.
std::string formatF64(double value);
FailureOr<double> parseF64Field(AsmParser &parser);
void printF64Field(AsmPrinter &printer, double value);

template <typename T>
FailureOr<SmallVector<T>> parseListField(AsmParser &parser) {
  SmallVector<T> values;
  auto parseElement = [&]() -> ParseResult {
    if constexpr (std::is_same_v<T, F64>) {
      FailureOr<double> value = parseF64Field(parser);
      if (failed(value))
        return failure();
      values.push_back(*value);
      return success();
    } else {
      return parser.parseInteger(values.emplace_back());
    }
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, parseElement))
    return failure();
  return values;
}

template <typename T>
void printListField(AsmPrinter &printer, ArrayRef<T> values) {
  printer << '[';
  llvm::interleaveComma(values, printer, [&](T value) {
    if constexpr (std::is_same_v<T, F64>)
      printF64Field(printer, value);
    else
      printer << value;
  });
  printer << ']';
}

/// The structural exit rules shared by `#ee.early_exit` and `ee.exit`:
/// an MLP branch excludes a block branch and needs post-exit placement.
LogicalResult verifyExitStructure(function_ref<InFlightDiagnostic()> emitError,
                                  bool useMLP, bool useBlock, bool preExit,
                                  StringRef where);

/// The rule for every real number of the dialect: the kernels compute in
/// float32, so a value must be finite there: zero (where `allowZero`) or a
/// normal float32 of its sign, never NaN, an overflow to inf (1e308) or an
/// underflow to zero or a denormal (1e-320). Positive values only, as every
/// real of a model (eps, theta, temperatures, weights) is; `field` names it.
LogicalResult verifyFloat32Value(function_ref<InFlightDiagnostic()> emitError, StringRef field,
                                 double value, bool allowZero);

/// A temperature must be positive; `field` names it in the diagnostic.
LogicalResult verifyTemperature(function_ref<InFlightDiagnostic()> emitError,
                                double temperature, StringRef field);

/// The head layout rules: heads divide the hidden size, KV heads divide the
/// heads, and the head dimension is even (rotary).
LogicalResult verifyHeadLayout(function_ref<InFlightDiagnostic()> emitError,
                               int64_t hiddenSize, int64_t numHeads,
                               int64_t numKVHeads, StringRef hiddenField,
                               StringRef headsField, StringRef kvHeadsField);

} // namespace mlir::ee

#define GET_ATTRDEF_CLASSES
#include "ee/EEAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "ee/EETypes.h.inc"

#endif // EE_DIALECT_EEDIALECT_H
