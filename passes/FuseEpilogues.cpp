// nn-fuse-epilogues: group a matmul with its elementwise epilogue, and elementwise chains,
// into nn.fused ops so that intermediates stay in registers.
#include "passes/PassDetail.h"

#include "mlir/IR/BlockAndValueMapping.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"

#include <deque>

using namespace mlir;

namespace kerasc {
namespace {

/// Ops that will become one kernel, in program order. The head is a matmul, a convolution
/// (nn.conv / nn.conv_transpose: their kernels take an epilogue too) or an elementwise op;
/// every later op is elementwise and consumes the previous group output.
struct Group {
  SmallVector<Operation *> ops;
};

/// Finds the group `op` may join: one whose current output (its last op) is an operand of `op`
/// used by nothing else, so that value can live in a register instead of memory.
Group *findGroupToJoin(Operation *op, const DenseMap<Operation *, Group *> &groupOf) {
  for (Value operand : op->getOperands()) {
    Operation *def = operand.getDefiningOp();
    auto it = def ? groupOf.find(def) : groupOf.end();
    if (it == groupOf.end() || it->second->ops.back() != def)
      continue;
    if (!operand.hasOneUse())
      continue;
    return it->second;
  }
  return nullptr;
}

/// Replaces the ops of `group` with one nn.fused op placed where the last op was.
void materialize(Group &group) {
  Operation *last = group.ops.back();
  llvm::SmallPtrSet<Operation *, 8> inGroup(group.ops.begin(), group.ops.end());
  llvm::SetVector<Value> inputs;
  SmallVector<Location> locs;
  for (Operation *op : group.ops) {
    locs.push_back(op->getLoc());
    for (Value v : op->getOperands())
      if (!inGroup.contains(v.getDefiningOp()))
        inputs.insert(v);
  }

  OpBuilder builder(last);
  Location loc = builder.getFusedLoc(locs);
  auto fused = builder.create<nn::FusedOp>(loc, last->getResult(0).getType(),
                                           inputs.getArrayRef());
  SmallVector<Type> argTypes;
  SmallVector<Location> argLocs;
  for (Value v : inputs) {
    argTypes.push_back(v.getType());
    argLocs.push_back(v.getLoc());
  }
  Block *body = builder.createBlock(&fused.getBody(), {}, argTypes, argLocs);
  BlockAndValueMapping mapping;
  mapping.map(inputs.getArrayRef(), body->getArguments());
  for (Operation *op : group.ops)
    builder.clone(*op, mapping);
  builder.create<nn::YieldOp>(last->getLoc(), mapping.lookup(Value(last->getResult(0))));

  last->getResult(0).replaceAllUsesWith(fused.getResult());
  for (Operation *op : llvm::reverse(group.ops))
    op->erase();
}

struct FuseEpiloguesPass : public FuseEpiloguesBase<FuseEpiloguesPass> {
  void runOnOperation() override {
    std::deque<Group> groups; // stable addresses
    DenseMap<Operation *, Group *> groupOf;
    for (Operation &op : getOperation().getBody().front()) {
      Group *group = nullptr;
      if (nn::isElementwise(&op))
        group = findGroupToJoin(&op, groupOf);
      else if (!isa<nn::MatMulOp, nn::ConvOp, nn::ConvTransposeOp>(op)) // heads: kernels
        continue;                                                      // with an epilogue
      if (!group)
        group = &groups.emplace_back();
      group->ops.push_back(&op);
      groupOf[&op] = group;
    }
    for (Group &group : groups)
      if (group.ops.size() > 1)
        materialize(group);
  }
};

} // namespace

std::unique_ptr<Pass> createFuseEpiloguesPass() {
  return std::make_unique<FuseEpiloguesPass>();
}

} // namespace kerasc
