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
    Replaces every `nn.noise` (Dropout, GaussianNoise, ...) with its input, except in training
    functions (marked `nn.training`), where they are active.
  }];
  let constructor = "kerasc::createRemoveNoisePass()";
}

def Autodiff : Pass<"nn-autodiff", "mlir::ModuleOp"> {
  let summary = "Builds the training step (forward, loss, backward, optimizer step) and test step";
  let description = [{
    For the function carrying `nn.losses` (one dictionary `{fn, config, weight}` per output, or
    an empty dictionary for an output without loss), adds two functions after it:
      - `<model>_test_step(inputs..., targets...) -> (loss, predictions...)`: forward pass and
        loss (plus regularization penalties);
      - `<model>_train_step(...)`, marked `nn.training`: the same, with noise layers active
        (each gets an RNG `stream`), then the reverse-mode gradient of the loss with respect to
        every trainable nn.weight (not marked `nn.trainable = false`), summed over shared uses
        and regularizers, and one `nn.apply_gradients`.
    Only values that depend on a trainable weight get gradients. Every op of the inference path
    has a rule; any other op is an error naming it.
  }];
  let constructor = "kerasc::createAutodiffPass()";
}

def FoldBatchNorm : Pass<"nn-fold-batch-norm", "mlir::func::FuncOp"> {
  let summary = "Folds inference-mode BatchNormalization into the preceding Dense / convolution";
  let description = [{
    An `nn.batch_norm` over the last axis whose statistics are constant weights and whose input
    is an `nn.matmul` or `nn.conv` with a constant kernel (optionally followed by
    `nn.bias_add`), each intermediate used only there, becomes that producer with a new kernel
    and an `nn.bias_add` of a new bias: `scale = gamma / sqrt(variance + epsilon)`,
    `kernel' = kernel * scale` per output channel, `bias' = (bias - mean) * scale + beta`.
    The new weights are named `<kernel>.folded_<bn layer>` and `<bias>.folded_<bn layer>` (or
    `<bn layer>/folded_bias`); `kerasc compile` gives the pass its weight store, where it adds
    their data. Without a store (kerasc-opt) only the IR is rewritten. A BatchNormalization
    that reads an `nn.transpose` of such a producer which moves its channels to the normalized
    axis (channels_first layers) first moves before the transpose. Training functions are left
    alone. `kerasc compile --no-fold-bn` skips the pass.
  }];
  let constructor = "kerasc::createFoldBatchNormPass()";
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

def ChooseConvAlgorithm : Pass<"nn-choose-conv-algorithm", "mlir::func::FuncOp"> {
  let summary = "Chooses each convolution's algorithm and the scratch memory it needs";
  let description = [{
    From the static shapes, sets `algorithm` on every nn.conv, nn.conv_transpose and
    nn.conv_grad_kernel ("pointwise": 1x1 stride-1 unpadded, a plain GEMM; "im2col" / "col2im":
    a patch matrix and one GEMM per group; "direct": scratch-free loops, for depthwise
    convolutions and patches too short to block), with `nn.algorithm_reason` saying why, and
    `nn.workspace_bytes` (bytes per sample of scratch) on the kernel that runs it (the
    convolution, or the nn.fused it heads) for nn-plan-memory to place in the arena.
    `kerasc compile --conv-algorithm=direct` (option `force=direct`) turns the GEMM paths off.
  }];
  let options = [
    Option<"force", "force", "std::string", /*default=*/"\"\"",
           "Use this algorithm everywhere instead of choosing (only direct)">
  ];
  let constructor = "kerasc::createChooseConvAlgorithmPass()";
}

def PlanMemory : Pass<"nn-plan-memory", "mlir::func::FuncOp"> {
  let summary = "Places every intermediate tensor in one arena using liveness intervals";
  let description = [{
    Activation sizes are per sample, so an offset `o` per sample is `o * batch` bytes at run
    time. Tensors without a batch axis (weight gradients and the loss of a training step) are
    planned in a second, fixed-size region placed before the batched one. Values that alias
    another buffer (nn.reshape) share it; a value returned by the function is written straight
    into the caller's output buffer. Buffers are placed greedily, largest first, at the
    best-fitting gap among the buffers live at the same time. Annotations:
      - on ops: `nn.arena_offset` (bytes per sample), `nn.fixed_offset` (bytes) or `nn.output`
        (result index); an op with `nn.workspace_bytes` (scratch per sample, from
        nn-choose-conv-algorithm) also gets `nn.workspace_offset` (bytes per sample): a batched
        buffer live only while that op runs;
      - on the function: `nn.arena_bytes` (the plan), `nn.no_reuse_bytes` (sum of all buffers)
        and `nn.lower_bound_bytes` (largest sum of simultaneously live buffers), per sample;
        with fixed-size buffers also `nn.fixed_bytes`, `nn.no_reuse_fixed_bytes` and
        `nn.lower_bound_fixed_bytes`.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Alignment of every buffer in bytes per sample">
  ];
  let constructor = "kerasc::createPlanMemoryPass()";
}

#endif // KERASC_PASSES
