// kerasc-opt: runs nn-dialect passes on textual IR (used by the lit tests and for debugging).
#include "ir/NNDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<kerasc::nn::NNDialect, mlir::func::FuncDialect>();
  kerasc::registerKerascPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "kerasc optimizer driver for the nn dialect\n", registry));
}
