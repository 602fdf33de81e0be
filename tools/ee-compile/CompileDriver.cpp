//===- CompileDriver.cpp - ee-compile as a library: load, lower, emit -----===//

#include "tools/ee-compile/CompileDriver.h"

#include "dialects/InitAllDialects.h"
#include "passes/InitAllPasses.h"
#include "passes/model/ConfigImport.h"
#include "tools/support/ToolInput.h"

#include "RuntimeConfig.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
using namespace mlir::ee;
namespace cl = llvm::cl;

/// A config is JSON: a `.json` file, or anything whose first character is `{`.
static bool isJSONConfig(StringRef path, StringRef text) {
  if (llvm::sys::path::extension(path) == ".json")
    return true;
  return text.ltrim().starts_with("{");
}

OwningOpRef<ModuleOp> mlir::ee::loadModel(llvm::SourceMgr &sourceMgr, StringRef path,
                                          MLIRContext *context) {
  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> file = openBoundedInput(path, kMaxMLIRInputBytes, message);
  if (!file) {
    emitError(UnknownLoc::get(context)) << message;
    return nullptr;
  }
  unsigned id = sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  const llvm::MemoryBuffer *buffer = sourceMgr.getMemoryBuffer(id);
  if (isJSONConfig(path, buffer->getBuffer()))
    return importModelConfig(buffer->getBuffer(), buffer->getBufferIdentifier(), context);
  if (failed(checkMLIRNesting(*buffer, message))) {
    llvm::errs() << message << "\n";
    return nullptr;
  }
  return parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(context));
}

LogicalResult mlir::ee::lowerTo(ModuleOp module, EmitStage stage,
                                const CompileOptions &compile) {
  if (stage == EmitStage::EE)
    return success();
  PassManager pm(module->getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  applyDefaultTimingPassManagerCLOptions(pm);
  ModelToPrimitivesOptions primitives;
  int64_t stages = compile.pipelineSplit.empty()
                       ? compile.pipelineStages
                       : static_cast<int64_t>(compile.pipelineSplit.size());
  primitives.method = stages > 1 ? "pipeline" : "recompute";
  primitives.stages = stages;
  primitives.split = compile.pipelineSplit;
  primitives.microbatches = compile.microbatches;
  primitives.fillBubbles = compile.fillBubbles;
  primitives.scheduleTrace = compile.scheduleTrace;
  primitives.dtype = compile.dtype;
  buildModelToPrimitivesPipeline(pm, primitives);
  PrimitivesToEERTOptions options;
  options.recompute = compile.recompute;
  options.tensorParallel = compile.tensorParallel;
  options.bucketSize = compile.bucketSize;
  options.distributedOptimizer = compile.distributedOptimizer;
  if (stage == EmitStage::Dist)
    buildPrimitivesToDistPipeline(pm, options);
  if (stage >= EmitStage::EERT)
    buildPrimitivesToEERTPipeline(pm, options);
  if (stage >= EmitStage::LLVM)
    buildEERTToLLVMPipeline(pm);
  return pm.run(module);
}

/// A target machine for the host CPU and its features (PIC, for PIE binaries).
///
/// Without optimization, IR and machine code alike: a model's code is one
/// straight-line run of runtime calls per step function (the kernels are
/// compiled with the runtime), so optimizing it gains nothing measurable, while
/// LLVM's optimizing pipeline and its SelectionDAG and greedy register
/// allocation grow faster than linearly in the length of that run (a 3000-layer
/// model: over 400 s; FastISel and the fast allocator: linear, docs/architecture.md).
static std::unique_ptr<llvm::TargetMachine> createHostTargetMachine(std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::SubtargetFeatures features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features.AddFeature(feature.first(), feature.second);
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(), llvm::TargetOptions(),
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::None));
}

static LogicalResult writeObject(llvm::Module &module, llvm::TargetMachine &machine,
                                 StringRef path, Location loc) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return emitError(loc) << "cannot write '" << path << "': " << ec.message();
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return emitError(loc) << "the host target cannot emit object files";
  passes.run(module);
  return success();
}

/// Links `object` with the runtime (its command line and the kernels of
/// `target`) into `binary`.
static LogicalResult linkBinary(StringRef object, StringRef binary, StringRef target,
                                Location loc) {
  llvm::ErrorOr<std::string> compiler = llvm::sys::findProgramByName("c++");
  if (!compiler)
    return emitError(loc) << "cannot find the system C++ compiler 'c++' to link with";
  std::string libDir = EE_RUNTIME_LIBRARY_DIR;
  std::string runtime = target == "cuda" ? "eert_cuda" : "eert";
  if (!llvm::sys::fs::exists(libDir + "/lib" + runtime + ".so"))
    return emitError(loc) << "--target " << target << " needs " << libDir << "/lib" << runtime
                          << ".so, which this build of the runtime lacks"
                          << (target == "cuda" ? " (it is built where the CUDA toolkit is found)"
                                               : "");
  // -rdynamic: the runtime finds the model's entry points by name.
  SmallVector<std::string> args = {*compiler, object.str(), "-o", binary.str(), "-rdynamic",
                                   libDir + "/libeert_cli.a", "-L" + libDir, "-l" + runtime,
                                   EE_SENTENCEPIECE_LIBRARY, EE_HTTPLIB_LIBRARY, "-ldl", "-Wl,-rpath," + libDir};
  SmallVector<StringRef> argRefs(args.begin(), args.end());
  std::string message;
  int status = llvm::sys::ExecuteAndWait(*compiler, argRefs, std::nullopt, {}, 0, 0, &message);
  if (status != 0)
    return emitError(loc) << "linking '" << binary << "' failed"
                          << (message.empty() ? "" : ": " + message);
  return success();
}

LogicalResult mlir::ee::emitNative(ModuleOp module, EmitStage stage, StringRef outputPath,
                                   StringRef target) {
  Location loc = module.getLoc();
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return emitError(loc) << "translation to LLVM IR failed";
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine = createHostTargetMachine(error);
  if (!machine)
    return emitError(loc) << "no target machine for the host: " << error;
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  if (llvm::Error err = makeOptimizingTransformer(/*optLevel=*/0, /*sizeLevel=*/0, machine.get())(llvmModule.get()))
    return emitError(loc) << "LLVM optimization failed: " << llvm::toString(std::move(err));

  if (stage == EmitStage::LLVM) {
    std::string message;
    std::unique_ptr<llvm::ToolOutputFile> output = openOutputFile(outputPath, &message);
    if (!output)
      return emitError(loc) << message;
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return success();
  }
  if (stage == EmitStage::Object)
    return writeObject(*llvmModule, *machine, outputPath, loc);

  SmallString<128> object;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile("ee-model", "o", object))
    return emitError(loc) << "cannot create a temporary object file: " << ec.message();
  LogicalResult linked = success(succeeded(writeObject(*llvmModule, *machine, object, loc)) &&
                                 succeeded(linkBinary(object, outputPath, target, loc)));
  llvm::sys::fs::remove(object);
  return linked;
}

int mlir::ee::compileMain(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                 cl::desc("<config.json | model.mlir>"));
  cl::opt<std::string> outputPath("o", cl::desc("Output file ('-' for stdout)"),
                                  cl::value_desc("path"), cl::init("-"));
  cl::opt<EmitStage> emit(
      "emit", cl::desc("The stage to stop after and write (default: exe)"),
      cl::values(clEnumValN(EmitStage::EE, "ee", "the imported model-level ee module"),
                 clEnumValN(EmitStage::Primitives, "primitives",
                            "after expansion into primitive ee ops"),
                 clEnumValN(EmitStage::Dist, "dist",
                            "each rank's program: pipeline stage functions, tensor-parallel "
                            "shards and collectives, backward passes"),
                 clEnumValN(EmitStage::EERT, "eert",
                            "after memory planning and lowering to runtime calls"),
                 clEnumValN(EmitStage::LLVM, "llvm", "LLVM IR for the host CPU"),
                 clEnumValN(EmitStage::Object, "obj", "a native object file"),
                 clEnumValN(EmitStage::Executable, "exe", "the linked model binary")),
      cl::init(EmitStage::Executable));
  cl::opt<std::string> recompute(
      "recompute",
      cl::desc("Saved activations of the backward pass: none (save all), selective "
               "(recompute attention and SwiGLU), full (keep only the residual stream)"),
      cl::init("none"));
  cl::opt<int64_t> tensorParallel(
      "tp", cl::desc("Tensor-parallel ranks (Megatron-style splits)"),
      cl::init(1));
  cl::opt<int64_t> bucketSize(
      "ddp-bucket-size",
      cl::desc("Elements per data-parallel gradient all-reduce bucket, started inside the "
               "backward pass (Megatron-LM's --ddp-bucket-size)"),
      cl::init(40000000));
  cl::opt<bool> distributedOptimizer(
      "use-distributed-optimizer",
      cl::desc("ZeRO-1: the training step reduce-scatters the gradients, updates each "
               "data-parallel replica's block of the AdamW state and all-gathers the "
               "parameters (BIN train --use-distributed-optimizer)"),
      cl::init(false));
  cl::opt<int64_t> pipelineStages(
      "pp", cl::desc("Pipeline stages (ranks); generation defaults to the pipeline method"),
      cl::init(1));
  cl::list<int64_t> pipelineSplit("pp-split", cl::CommaSeparated,
                                  cl::desc("Layers per pipeline stage (default: balanced by "
                                           "the cost model)"));
  cl::opt<int64_t> microbatches(
      "microbatches", cl::desc("Micro-batches per training step of the pipeline plan "
                               "(default: as many as stages)"),
      cl::init(0));
  cl::opt<int64_t> fillBubbles(
      "fill-bubbles", cl::desc("Extra partial micro-batches (exit losses only) filling the "
                               "planned 1F1B bubbles"),
      cl::init(0));
  cl::opt<std::string> target(
      "target",
      cl::desc("Where the binary computes: cpu (libeert), or cuda (libeert_cuda: one NVIDIA GPU, "
               "every tensor in its memory; the binary starts anywhere and names what is "
               "missing)"),
      cl::init("cpu"));
  cl::opt<std::string> dtype(
      "dtype", cl::desc("Precision: fp32, or bf16 (bf16 weights and linear-product inputs with "
                        "fp32 accumulation, fp32 master weights for training; default: the "
                        "config's torch_dtype, bf16 for \"bfloat16\", else fp32)"),
      cl::init(""));
  cl::opt<std::string> scheduleTrace(
      "schedule-trace", cl::desc("Write the planned pipeline schedule of every stage as a "
                                 "Chrome trace (JSON, for Perfetto)"),
      cl::value_desc("file"), cl::init(""));
  registerAllPasses();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "ee-compile: the ahead-of-time early-exit model compiler\n");

  DialectRegistry registry;
  registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  // Remarks (the pipeline plan's balance, its bubbles) describe the whole
  // model: one line each, without the source excerpt errors get (for a config
  // that excerpt is only its opening brace).
  context.getDiagEngine().registerHandler([](Diagnostic &diagnostic) -> LogicalResult {
    if (diagnostic.getSeverity() != DiagnosticSeverity::Remark)
      return failure();
    if (auto file = dyn_cast<FileLineColLoc>(diagnostic.getLocation()))
      llvm::errs() << file.getFilename().getValue() << ": ";
    llvm::errs() << "remark: " << diagnostic << "\n";
    return success();
  });

  if (emit >= EmitStage::Object && outputPath == "-") {
    llvm::errs() << "ee-compile: --emit obj and exe need an output file (-o)\n";
    return 1;
  }
  if (pipelineStages < 1 || (!pipelineSplit.empty() && pipelineStages.getNumOccurrences() &&
                             pipelineStages != static_cast<int64_t>(pipelineSplit.size()))) {
    llvm::errs() << "ee-compile: --pp must be at least 1 and, with --pp-split, the number of "
                    "entries in the split\n";
    return 1;
  }
  if (tensorParallel < 1) {
    llvm::errs() << "ee-compile: --tp must be at least 1\n";
    return 1;
  }
  // MPI counts are int: a bucket is at most INT32_MAX elements.
  if (bucketSize < 1 || bucketSize > INT32_MAX) {
    llvm::errs() << "ee-compile: --ddp-bucket-size must be in [1, 2147483647]\n";
    return 1;
  }
  CompileOptions options;
  options.recompute = recompute;
  options.tensorParallel = tensorParallel;
  options.bucketSize = bucketSize;
  options.distributedOptimizer = distributedOptimizer;
  options.pipelineStages = pipelineStages;
  options.pipelineSplit.assign(pipelineSplit.begin(), pipelineSplit.end());
  if (microbatches < 0 || fillBubbles < 0) {
    llvm::errs() << "ee-compile: --microbatches and --fill-bubbles must be >= 0\n";
    return 1;
  }
  options.microbatches = microbatches;
  options.fillBubbles = fillBubbles;
  options.scheduleTrace = scheduleTrace;
  if (target != "cpu" && target != "cuda") {
    llvm::errs() << "ee-compile: --target must be cpu or cuda, got '" << target << "'\n";
    return 1;
  }
  if (!dtype.empty() && dtype != "fp32" && dtype != "bf16") {
    llvm::errs() << "ee-compile: --dtype must be fp32 or bf16, got '" << dtype << "'\n";
    return 1;
  }
  OwningOpRef<ModuleOp> module = loadModel(sourceMgr, inputPath, &context);
  if (!module)
    return 1;
  options.dtype = dtype;
  if (dtype.empty()) {
    auto stored = (*module)->getAttrOfType<StringAttr>(EEDialect::getTorchDtypeAttrName());
    options.dtype = stored && stored.getValue() == "bfloat16" ? "bf16" : "fp32";
  }
  if (failed(lowerTo(*module, emit, options)))
    return 1;
  if (emit >= EmitStage::LLVM)
    return failed(emitNative(*module, emit, outputPath, target)) ? 1 : 0;

  std::string message;
  std::unique_ptr<llvm::ToolOutputFile> output = openOutputFile(outputPath, &message);
  if (!output) {
    llvm::errs() << "ee-compile: " << message << "\n";
    return 1;
  }
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
