// nn-plan-memory: static arena planning from liveness intervals (greedy by size, best fit).
// Besides every op's result, the scratch an op asks for (nn.workspace_bytes: a convolution's
// im2col patches) is a buffer live only during that op.
#include "passes/PassDetail.h"

#include "mlir/IR/Builders.h"

#include <optional>

using namespace mlir;

namespace kerasc {
namespace {

/// A set of values that share one buffer: a producer and the nn.reshape views of it.
struct BufferClass {
  Value root;                      // the value that owns the storage (null for a workspace)
  Operation *workspaceOf = nullptr; // the op whose scratch (nn.workspace_bytes) this is
  SmallVector<Value> members;      // root first, then views
  bool batched = true;             // scales with the batch (else a fixed size: gradients, loss)
  int64_t bytes = 0;               // per sample (batched) or in total (fixed), aligned
  int64_t firstUse = 0, lastUse = 0; // op indices, inclusive
  int64_t offset = -1;             // offset in its region once placed
};

int64_t alignUp(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

bool overlapsInTime(const BufferClass &a, const BufferClass &b) {
  return a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
}

/// Best-fit offset for `buf` among already placed buffers live at the same time: the smallest
/// gap that holds it, else the end of the highest conflicting buffer.
int64_t bestFitOffset(const BufferClass &buf, ArrayRef<BufferClass *> placed) {
  SmallVector<std::pair<int64_t, int64_t>> busy; // [begin, end)
  for (BufferClass *other : placed)
    if (overlapsInTime(buf, *other))
      busy.push_back({other->offset, other->offset + other->bytes});
  llvm::sort(busy);
  int64_t best = -1, bestGap = INT64_MAX, cursor = 0;
  for (auto [begin, end] : busy) {
    int64_t gap = begin - cursor;
    if (gap >= buf.bytes && gap < bestGap) {
      best = cursor;
      bestGap = gap;
    }
    cursor = std::max(cursor, end);
  }
  return best >= 0 ? best : cursor;
}

struct PlanMemoryPass : public PlanMemoryBase<PlanMemoryPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    Block &block = func.getBody().front();
    MLIRContext *ctx = func.getContext();
    Builder b(ctx);

    // Program order positions; arguments are live from before the first op (-1).
    DenseMap<Operation *, int64_t> position;
    for (Operation &op : block)
      position[&op] = position.size();

    // Views (nn.reshape) share their operand's buffer: map each value to its owner.
    DenseMap<Value, Value> ownerOf;
    auto owner = [&](Value v) {
      auto it = ownerOf.find(v);
      return it == ownerOf.end() ? v : it->second;
    };
    std::vector<BufferClass> classes;
    DenseMap<Value, size_t> classOf;
    for (Operation &op : block) {
      if (isa<nn::WeightOp, func::ReturnOp>(op) || op.getNumResults() == 0)
        continue;
      Value result = op.getResult(0);
      if (auto view = dyn_cast<nn::ReshapeOp>(op)) {
        ownerOf[result] = owner(view.getInput());
        continue;
      }
      classOf[result] = classes.size();
      classes.push_back({result, nullptr, {result}});
    }
    for (auto [view, root] : ownerOf)
      if (classOf.count(root))
        classes[classOf[root]].members.push_back(view);
    // Scratch (a convolution's im2col patches): batched, live only while its op runs.
    for (Operation &op : block)
      if (auto bytes = op.getAttrOfType<IntegerAttr>("nn.workspace_bytes")) {
        BufferClass scratch;
        scratch.workspaceOf = &op;
        scratch.bytes = alignUp(bytes.getInt(), alignment);
        scratch.firstUse = scratch.lastUse = position[&op];
        classes.push_back(scratch);
      }

    auto ret = cast<func::ReturnOp>(block.getTerminator());
    SmallVector<BufferClass *> arenaBuffers;
    for (BufferClass &cls : classes) {
      if (cls.workspaceOf) {
        arenaBuffers.push_back(&cls);
        continue;
      }
      auto type = cls.root.getType().cast<ShapedType>();
      cls.batched = nn::hasBatchDim(type);
      cls.bytes = alignUp(nn::elementsPerSample(type) * 4, alignment);
      cls.firstUse = position[cls.root.getDefiningOp()];
      cls.lastUse = cls.firstUse;
      std::optional<unsigned> returnedAs;
      for (Value member : cls.members) {
        for (OpOperand &use : member.getUses()) {
          cls.lastUse = std::max(cls.lastUse, position[use.getOwner()]);
          if (use.getOwner() == ret && !returnedAs)
            returnedAs = use.getOperandNumber();
        }
      }
      Operation *producer = cls.root.getDefiningOp();
      if (returnedAs) {
        // Written straight into the caller's output buffer; other returns of the same
        // buffer are copied by the code generator.
        producer->setAttr("nn.output", b.getI64IntegerAttr(*returnedAs));
        continue;
      }
      arenaBuffers.push_back(&cls);
    }

    // Two regions, planned independently: fixed-size buffers (gradients of weights, the loss)
    // first, then the buffers that scale with the batch.
    struct Region {
      const char *offsetAttr, *bytesAttr, *noReuseAttr, *lowerBoundAttr;
      bool batched;
    };
    for (Region region : {Region{"nn.arena_offset", "nn.arena_bytes", "nn.no_reuse_bytes",
                                 "nn.lower_bound_bytes", true},
                          Region{"nn.fixed_offset", "nn.fixed_bytes", "nn.no_reuse_fixed_bytes",
                                 "nn.lower_bound_fixed_bytes", false}}) {
      SmallVector<BufferClass *> buffers;
      for (BufferClass *buf : arenaBuffers)
        if (buf->batched == region.batched)
          buffers.push_back(buf);
      // Greedy by size (largest first, earliest first on ties), best fit.
      SmallVector<BufferClass *> order(buffers);
      llvm::stable_sort(order, [](BufferClass *a, BufferClass *c) {
        return a->bytes != c->bytes ? a->bytes > c->bytes : a->firstUse < c->firstUse;
      });
      SmallVector<BufferClass *> placed;
      int64_t arenaBytes = 0, noReuseBytes = 0;
      for (BufferClass *buf : order) {
        buf->offset = bestFitOffset(*buf, placed);
        placed.push_back(buf);
        arenaBytes = std::max(arenaBytes, buf->offset + buf->bytes);
        noReuseBytes += buf->bytes;
        if (buf->workspaceOf)
          buf->workspaceOf->setAttr("nn.workspace_offset", b.getI64IntegerAttr(buf->offset));
        else
          buf->root.getDefiningOp()->setAttr(region.offsetAttr,
                                             b.getI64IntegerAttr(buf->offset));
      }
      // Lower bound: the largest sum of buffers live at one program point.
      int64_t lowerBound = 0;
      for (int64_t t = 0; t < (int64_t)position.size(); ++t) {
        int64_t live = 0;
        for (BufferClass *buf : buffers)
          if (buf->firstUse <= t && t <= buf->lastUse)
            live += buf->bytes;
        lowerBound = std::max(lowerBound, live);
      }
      if (!region.batched && buffers.empty())
        continue; // inference functions have no fixed-size buffers
      func->setAttr(region.bytesAttr, b.getI64IntegerAttr(arenaBytes));
      func->setAttr(region.noReuseAttr, b.getI64IntegerAttr(noReuseBytes));
      func->setAttr(region.lowerBoundAttr, b.getI64IntegerAttr(lowerBound));
    }
    func->setAttr("nn.alignment", b.getI64IntegerAttr(alignment));
  }
};

} // namespace

std::unique_ptr<Pass> createPlanMemoryPass() { return std::make_unique<PlanMemoryPass>(); }

} // namespace kerasc
