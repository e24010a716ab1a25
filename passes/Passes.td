//===- Passes.td - kerasc's IR-to-IR passes ------------------------------------------------===//
// One pass per file in passes/, one lit test per pass in tests/lit/<flag>.mlir.
#ifndef KERASC_PASSES
#define KERASC_PASSES

include "mlir/Pass/PassBase.td"

def InferShapes : Pass<"nn-infer-shapes", "mlir::func::FuncOp"> {
  let summary = "Infers and verifies every tensor shape";
  let description = [{
    Refines unranked results (`tensor<*xf32>`) to ranked types in program order using each op's
    InferShapeOpInterface, checks ranked results against the inferred type, and updates the
    function's result types. Fails with an error on the op when shapes disagree.
  }];
  let constructor = "kerasc::createInferShapesPass()";
}

def RemoveNoise : Pass<"nn-remove-noise", "mlir::func::FuncOp"> {
  let summary = "Removes dropout and noise layers, which are identities at inference";
  let description = [{
    Replaces every `nn.noise` (Dropout, GaussianNoise, ...) with its input.
  }];
  let constructor = "kerasc::createRemoveNoisePass()";
}

def FuseEpilogues : Pass<"nn-fuse-epilogues", "mlir::func::FuncOp"> {
  let summary = "Fuses matmul epilogues and elementwise chains into nn.fused kernels";
  let description = [{
    Groups a `nn.matmul` with the elementwise ops that consume its result (bias, activation,
    residual add, ...) and groups chains of elementwise ops, as long as each intermediate value
    has a single use. Each group becomes one `nn.fused` op; its intermediates never reach memory.
    `kerasc compile --no-fuse` (or -O0) skips this pass.
  }];
  let constructor = "kerasc::createFuseEpiloguesPass()";
}

def PlanMemory : Pass<"nn-plan-memory", "mlir::func::FuncOp"> {
  let summary = "Places every intermediate tensor in one arena using liveness intervals";
  let description = [{
    Sizes are per sample (all activations scale with the batch), so an offset `o` per sample is
    `o * batch` bytes at run time. Values that alias another buffer (nn.reshape) share it; a
    value returned by the function is written straight into the caller's output buffer.
    Arena buffers are placed greedily, largest first, at the best-fitting gap among the buffers
    live at the same time. Annotations:
      - on ops: `nn.arena_offset` (bytes per sample) or `nn.output` (result index);
      - on the function: `nn.arena_bytes` (the plan), `nn.no_reuse_bytes` (sum of all buffers)
        and `nn.lower_bound_bytes` (largest sum of simultaneously live buffers), per sample.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Alignment of every buffer in bytes per sample">
  ];
  let constructor = "kerasc::createPlanMemoryPass()";
}

#endif // KERASC_PASSES
