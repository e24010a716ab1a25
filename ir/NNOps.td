//===- NNOps.td - nn dialect operations ----------------------------------------------------===//
//
// Each op documents its Keras origin. Shapes: `B` is the dynamic batch dimension.
// All ops except nn.weight, nn.fused and nn.yield infer their result type (NN_InferShapeOpInterface)
// and are verified against it.
//
//===----------------------------------------------------------------------------------------===//
#ifndef KERASC_NN_OPS
#define KERASC_NN_OPS

include "ir/NNBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class NN_ShapedOp<string mnemonic, list<Trait> traits = []> :
    NN_Op<mnemonic, !listconcat(traits,
        [NoSideEffect, DeclareOpInterfaceMethods<NN_InferShapeOpInterface>])> {
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------------------------===//

def NN_WeightOp : NN_Op<"weight", [NoSideEffect]> {
  let summary = "a named, statically shaped constant from the weight store";
  let description = [{
    Refers to a tensor kept outside the IR (the model's weights, or constants derived from a
    layer config such as a per-channel Rescaling scale). The name is the key in the weight store,
    `<layer>/<variable>` by convention.

    ```mlir
    %w = nn.weight "dense/kernel" : tensor<4x8xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------------------------===//
// Dense building blocks
//===----------------------------------------------------------------------------------------===//

def NN_MatMulOp : NN_ShapedOp<"matmul"> {
  let summary = "contracts the last axis of the input with a [K, N] kernel";
  let description = [{
    The matrix product of Keras's Dense layer, applied to the last axis: an input of shape
    `[B, ..., K]` and a kernel `[K, N]` give `[B, ..., N]`. Leading axes are treated as rows.

    ```mlir
    %y = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$kernel);
}

def NN_BiasAddOp : NN_ShapedOp<"bias_add"> {
  let summary = "adds a per-channel bias along the last axis";
  let description = [{
    `result[..., c] = input[..., c] + bias[c]`; bias has shape `[C]` where `C` is the input's
    last dimension.

    ```mlir
    %z = nn.bias_add %y, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$bias);
}

//===----------------------------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------------------------===//

def NN_ActivationOp : NN_ShapedOp<"activation"> {
  let summary = "an elementwise Keras activation function";
  let description = [{
    `fn` is one of: linear, relu, relu6, sigmoid, hard_sigmoid (Keras 3: relu6(x + 3) / 6),
    hard_sigmoid_tf2 (tf.keras 2: clip(0.2 x + 0.5, 0, 1)), tanh, elu, selu, softplus, softsign,
    silu, gelu, gelu_approximate, exponential, leaky_relu.
    Parameters (only where the function uses them):
    `alpha` — negative slope (relu, leaky_relu) or ELU's alpha;
    `max_value`, `threshold` — Keras ReLU layer's cap and threshold.
    Keras's softmax and log_softmax are not elementwise: see `nn.softmax`.

    ```mlir
    %a = nn.activation %z {fn = "relu"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    %b = nn.activation %z {fn = "leaky_relu", alpha = 3.000000e-01 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, StrAttr:$fn, OptionalAttr<F64Attr>:$alpha,
                   OptionalAttr<F64Attr>:$max_value, OptionalAttr<F64Attr>:$threshold);
  let hasVerifier = 1;
}

def NN_RescaleOp : NN_ShapedOp<"rescale"> {
  let summary = "x * scale + offset with scalar scale and offset";
  let description = [{
    Keras's Rescaling layer with scalar parameters, and Average's final scaling by 1/n.
    (Per-channel Rescaling uses `nn.binary` with a broadcast weight.)

    ```mlir
    %r = nn.rescale %x {scale = 3.921568e-03 : f64, offset = 0.0 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, F64Attr:$scale, F64Attr:$offset);
}

def NN_BinaryOp : NN_ShapedOp<"binary"> {
  let summary = "an elementwise binary op with numpy broadcasting";
  let description = [{
    `fn` is one of add, sub, mul, div, max, min. Shapes broadcast like numpy, aligned at the
    trailing axis; a rank-lower operand (a weight without batch axis) broadcasts over the batch.
    Keras's Add, Subtract, Multiply, Maximum and Minimum layers fold their inputs pairwise, left
    to right, through this op.

    ```mlir
    %s = nn.binary %a, %b {fn = "add"} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$lhs, NN_Tensor:$rhs, StrAttr:$fn);
  let hasVerifier = 1;
}

def NN_NormalizeOp : NN_ShapedOp<"normalize"> {
  let summary = "Keras Normalization: (x - mean) / max(sqrt(variance), epsilon)";
  let description = [{
    `mean` and `variance` broadcast against the input like `nn.binary` operands. With
    `invert = true` computes the inverse, `mean + x * max(sqrt(variance), epsilon)`.

    ```mlir
    %n = nn.normalize %x, %mean, %var {epsilon = 1.0e-07 : f64, invert = false}
        : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$mean, NN_Tensor:$variance,
                   F64Attr:$epsilon, BoolAttr:$invert);
}

def NN_PReluOp : NN_ShapedOp<"prelu"> {
  let summary = "parametric ReLU: relu(x) - alpha * relu(-x)";
  let description = [{
    `alpha` broadcasts against the input's non-batch axes (Keras's `shared_axes` are size 1).

    ```mlir
    %p = nn.prelu %x, %alpha : (tensor<?x3x4xf32>, tensor<1x4xf32>) -> tensor<?x3x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$alpha);
}

//===----------------------------------------------------------------------------------------===//
// Reductions along an axis
//===----------------------------------------------------------------------------------------===//

def NN_SoftmaxOp : NN_ShapedOp<"softmax"> {
  let summary = "softmax (or log-softmax) along one axis";
  let description = [{
    Numerically stable like Keras: `e = exp(x - max(x))`, `softmax = e / sum(e)`,
    `log_softmax = (x - max) - log(sum(e))`. `axis` counts the batch axis as 0 and must be >= 1.

    ```mlir
    %p = nn.softmax %z {axis = 1 : i64, log = false} : (tensor<?x10xf32>) -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64Attr:$axis, BoolAttr:$log);
}

//===----------------------------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------------------------===//

def NN_ReshapeOp : NN_ShapedOp<"reshape"> {
  let summary = "reinterprets the non-batch axes with a new shape (a view, no copy)";
  let description = [{
    Keras's Flatten and Reshape. `shape` lists the new non-batch dimensions (all static); their
    product must equal that of the input's non-batch dimensions.

    ```mlir
    %f = nn.reshape %x {shape = [12]} : (tensor<?x3x4xf32>) -> tensor<?x12xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64ArrayAttr:$shape);
}

def NN_TransposeOp : NN_ShapedOp<"transpose"> {
  let summary = "permutes the axes; the batch axis stays first";
  let description = [{
    Keras's Permute. `perm` is a full permutation including the batch axis, which must map to
    itself: `result.dim(i) = input.dim(perm[i])`.

    ```mlir
    %t = nn.transpose %x {perm = [0, 2, 1]} : (tensor<?x3x4xf32>) -> tensor<?x4x3xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64ArrayAttr:$perm);
}

def NN_RepeatOp : NN_ShapedOp<"repeat"> {
  let summary = "repeats a [B, F] input n times into [B, n, F]";
  let description = [{
    Keras's RepeatVector.

    ```mlir
    %r = nn.repeat %x {times = 3 : i64} : (tensor<?x4xf32>) -> tensor<?x3x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64Attr:$times);
}

def NN_ConcatOp : NN_ShapedOp<"concat"> {
  let summary = "concatenates inputs along one non-batch axis";
  let description = [{
    Keras's Concatenate. `axis` counts the batch axis as 0 and must be >= 1; all other
    dimensions must agree.

    ```mlir
    %c = nn.concat %a, %b {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x2xf32>) -> tensor<?x6xf32>
    ```
  }];
  let arguments = (ins Variadic<NN_Tensor>:$inputs, I64Attr:$axis);
}

def NN_NoiseOp : NN_ShapedOp<"noise"> {
  let summary = "a training-only noise or regularization layer (identity at inference)";
  let description = [{
    Dropout, SpatialDropout*, GaussianNoise, GaussianDropout, AlphaDropout and
    ActivityRegularization. They change nothing at inference; `nn-remove-noise` deletes them.
    `layer_class` keeps the Keras class for training, `rate` its rate/stddev where it has one.
    In training functions nn-autodiff sets `stream`, the counter-based RNG stream of this layer's
    draws, shared with its nn.noise_grad so that the backward pass recomputes the same mask.
    ActivityRegularization keeps its factors in `l1` / `l2` (nn-autodiff turns them into a
    penalty on the loss); SpatialDropout* marks `channels_first` data.
    The image augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
    RandomContrast) are nn.noise too, active only in training, with their Keras config in
    `config`.

    ```mlir
    %d = nn.noise %x {layer_class = "Dropout", rate = 5.000000e-01 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, StrAttr:$layer_class, OptionalAttr<F64Attr>:$rate,
                   OptionalAttr<I64Attr>:$stream, OptionalAttr<F64Attr>:$l1,
                   OptionalAttr<F64Attr>:$l2, OptionalAttr<BoolAttr>:$channels_first,
                   OptionalAttr<DictionaryAttr>:$config);
}

//===----------------------------------------------------------------------------------------===//
// Convolution, pooling and resampling. Layout is channels_last, [B, spatial..., C]; Keras layers
// with data_format="channels_first" are imported between two nn.transpose ops. Spatial
// attributes have one entry per spatial axis; `padding` lists [before_0, after_0, before_1, ...].
//===----------------------------------------------------------------------------------------===//

def NN_ConvOp : NN_ShapedOp<"conv"> {
  let summary = "N-d convolution (Keras Conv1D/Conv2D, DepthwiseConv2D, SeparableConv2D parts)";
  let description = [{
    `input` is `[B, S..., Cin]`, `kernel` `[K..., Cin / groups, Cout]`; output channel `co`
    reads input channels of group `co / (Cout / groups)`. Each output size is
    `O = floor((S + before + after - dilation * (K - 1) - 1) / stride) + 1`; out-of-range
    input positions read zero. `algorithm` ("direct", "im2col", "pointwise", ...) is chosen by
    nn-choose-conv-algorithm; without it the code generator uses "direct".

    ```mlir
    %y = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64}
        : (tensor<?x8x8x3xf32>, tensor<3x3x3x16xf32>) -> tensor<?x8x8x16xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$kernel, I64ArrayAttr:$strides,
                   I64ArrayAttr:$dilations, I64ArrayAttr:$padding, I64Attr:$groups,
                   OptionalAttr<StrAttr>:$algorithm);
}

def NN_ConvTransposeOp : NN_ShapedOp<"conv_transpose"> {
  let summary = "transposed convolution (Keras Conv2DTranspose; the input gradient of nn.conv)";
  let description = [{
    `input` is `[B, S..., Cin]`, `kernel` `[K..., Cout / groups, Cin]` (Keras's
    Conv2DTranspose layout). Input position `i` adds `input[i] * kernel[k]` to output position
    `i * stride + k * dilation - before`; positions outside `[0, O)` are dropped, with
    `O = (S - 1) * stride + dilation * (K - 1) + 1 - before - after` (`after` may be negative:
    Keras's output_padding).

    ```mlir
    %y = nn.conv_transpose %x, %w {strides = [2, 2], dilations = [1, 1], padding = [0, 0, 0, 0], groups = 1 : i64}
        : (tensor<?x4x4x8xf32>, tensor<2x2x3x8xf32>) -> tensor<?x8x8x3xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$kernel, I64ArrayAttr:$strides,
                   I64ArrayAttr:$dilations, I64ArrayAttr:$padding, I64Attr:$groups,
                   OptionalAttr<StrAttr>:$algorithm);
}

def NN_ConvGradKernelOp : NN_ShapedOp<"conv_grad_kernel"> {
  let summary = "gradient of nn.conv with respect to its kernel, summed over the batch";
  let description = [{
    `input` is the convolution's input `[B, S..., Cin]`, `grad` its output gradient
    `[B, O..., Cout]`; the attributes are the convolution's, plus `kernel_spatial` (K...), which
    the sizes alone do not determine. The result has the kernel's shape `[K..., Cin / groups, Cout]`.
    (nn.conv_transpose's kernel gradient is this op with input and grad swapped.)

    ```mlir
    %dw = nn.conv_grad_kernel %x, %dy {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64, kernel_spatial = [3, 3]}
        : (tensor<?x8x8x3xf32>, tensor<?x8x8x16xf32>) -> tensor<3x3x3x16xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$grad, I64ArrayAttr:$strides,
                   I64ArrayAttr:$dilations, I64ArrayAttr:$padding, I64Attr:$groups,
                   I64ArrayAttr:$kernel_spatial, OptionalAttr<StrAttr>:$algorithm);
}

def NN_PoolOp : NN_ShapedOp<"pool"> {
  let summary = "max or average pooling over spatial windows (Keras *Pooling1D/2D, Global*)";
  let description = [{
    `kind` is "max" or "avg". `O = floor((S + before + after - window) / stride) + 1`.
    Padded positions never win a max, and an average divides by the number of in-bounds
    elements of its window (Keras's "same" padding). Global pooling is a window as large as
    the input followed by nn.reshape.

    ```mlir
    %p = nn.pool %x {kind = "max", window = [2, 2], strides = [2, 2], padding = [0, 0, 0, 0]}
        : (tensor<?x8x8x4xf32>) -> tensor<?x4x4x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, StrAttr:$kind, I64ArrayAttr:$window,
                   I64ArrayAttr:$strides, I64ArrayAttr:$padding);
  let hasVerifier = 1;
}

def NN_PoolGradOp : NN_ShapedOp<"pool_grad"> {
  let summary = "gradient of nn.pool with respect to its input";
  let description = [{
    `grad` is the pool's output gradient, `input` its input; the attributes are the pool's.
    Max pooling sends each window's gradient to the window's first maximum (row-major order);
    average pooling spreads it evenly over the window's in-bounds elements.

    ```mlir
    %dx = nn.pool_grad %dy, %x {kind = "max", window = [2, 2], strides = [2, 2], padding = [0, 0, 0, 0]}
        : (tensor<?x4x4x4xf32>, tensor<?x8x8x4xf32>) -> tensor<?x8x8x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$input, StrAttr:$kind, I64ArrayAttr:$window,
                   I64ArrayAttr:$strides, I64ArrayAttr:$padding);
  let hasVerifier = 1;
}

def NN_PadOp : NN_ShapedOp<"pad"> {
  let summary = "zero padding or cropping of the non-batch axes (ZeroPadding*, Cropping*)";
  let description = [{
    `pads` holds [before, after] for every non-batch axis; a negative value crops. The
    gradient of nn.pad is nn.pad with the pads negated.

    ```mlir
    %p = nn.pad %x {pads = [1, 2, 0, -1, 0, 0]} : (tensor<?x4x5x3xf32>) -> tensor<?x7x4x3xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64ArrayAttr:$pads);
}

def NN_ResizeOp : NN_ShapedOp<"resize"> {
  let summary = "upsampling by integer factors (Keras UpSampling1D/2D)";
  let description = [{
    `input` is `[B, S..., C]`; each spatial axis grows by its `scale`. `method` is "nearest"
    (repeat) or "bilinear" (Keras 3: half-pixel centers, as keras.ops.image.resize).

    ```mlir
    %u = nn.resize %x {scale = [2, 2], method = "nearest"} : (tensor<?x4x4x3xf32>) -> tensor<?x8x8x3xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64ArrayAttr:$scale, StrAttr:$method);
}

def NN_ResizeGradOp : NN_ShapedOp<"resize_grad"> {
  let summary = "gradient of nn.resize with respect to its input";
  let description = [{
    ```mlir
    %dx = nn.resize_grad %dy {scale = [2, 2], method = "nearest"} : (tensor<?x8x8x3xf32>) -> tensor<?x4x4x3xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, I64ArrayAttr:$scale, StrAttr:$method);
}

//===----------------------------------------------------------------------------------------===//
// Normalization layers
//===----------------------------------------------------------------------------------------===//

def NN_BatchNormOp : NN_ShapedOp<"batch_norm"> {
  let summary = "BatchNormalization at inference: (x - mean) / sqrt(variance + epsilon) * gamma + beta";
  let description = [{
    `gamma`, `beta`, `mean` and `variance` broadcast against the input like nn.binary operands
    (`[C]` for the last axis, `[C, 1, 1]` for axis 1 of a rank-4 input); `axis` is the
    normalized (channel) axis. Elementwise: it fuses into a producer's epilogue, and
    nn-fold-batch-norm folds it into a preceding convolution or matmul. Keras's center=False /
    scale=False come in as constant zeros / ones.

    ```mlir
    %y = nn.batch_norm %x, %g, %b, %m, %v {axis = 3 : i64, epsilon = 1.0e-03 : f64}
        : (tensor<?x8x8x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x8x8x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$gamma, NN_Tensor:$beta, NN_Tensor:$mean,
                   NN_Tensor:$variance, I64Attr:$axis, F64Attr:$epsilon);
}

def NN_BatchNormTrainOp : NN_ShapedOp<"batch_norm_train"> {
  let summary = "BatchNormalization in training: batch statistics, moving averages updated";
  let description = [{
    Normalizes with the batch's mean and biased variance, taken over every axis but `axis`, and
    updates the moving statistics in place as Keras does:
    `moving = moving * momentum + batch_statistic * (1 - momentum)`. Operands as nn.batch_norm,
    with the moving mean and variance last (their buffers are written).

    ```mlir
    %y = nn.batch_norm_train %x, %g, %b, %m, %v {axis = 3 : i64, epsilon = 1.0e-03 : f64, momentum = 0.99 : f64}
        : (tensor<?x8x8x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x8x8x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$gamma, NN_Tensor:$beta,
                   NN_Tensor:$moving_mean, NN_Tensor:$moving_variance, I64Attr:$axis,
                   F64Attr:$epsilon, F64Attr:$momentum);
  let hasVerifier = 1;
}

def NN_BatchNormGradOp : NN_ShapedOp<"batch_norm_grad"> {
  let summary = "gradient of nn.batch_norm_train with respect to its input (0) or gamma (1)";
  let description = [{
    Recomputes the batch statistics from `input`. With `xhat` the normalized input and
    `N` the elements per channel: input: `gamma / sqrt(var + eps) * (dy - mean(dy) - xhat *
    mean(dy * xhat))`; gamma: `sum(dy * xhat)` at gamma's shape. (beta's gradient is
    nn.reduce_to of dy.)

    ```mlir
    %dx = nn.batch_norm_grad %dy, %x, %g {axis = 3 : i64, epsilon = 1.0e-03 : f64, operand = 0 : i64}
        : (tensor<?x8x8x4xf32>, tensor<?x8x8x4xf32>, tensor<4xf32>) -> tensor<?x8x8x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$input, NN_Tensor:$gamma, I64Attr:$axis,
                   F64Attr:$epsilon, I64Attr:$operand);
  let hasVerifier = 1;
}

def NN_LayerNormOp : NN_ShapedOp<"layer_norm"> {
  let summary = "LayerNormalization over the trailing axes from `axis` on";
  let description = [{
    Each sample's elements along axes `axis`..rank-1 are normalized with their mean and biased
    variance: `(x - mean) / sqrt(var + epsilon) * gamma + beta`; with `rms_scaling`,
    `x / sqrt(mean(x^2) + epsilon) * gamma`. `gamma` and `beta` broadcast against the input
    like nn.binary operands.

    ```mlir
    %y = nn.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.0e-03 : f64, rms_scaling = false}
        : (tensor<?x5x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x5x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$gamma, NN_Tensor:$beta, I64Attr:$axis,
                   F64Attr:$epsilon, BoolAttr:$rms_scaling);
}

def NN_LayerNormGradOp : NN_ShapedOp<"layer_norm_grad"> {
  let summary = "gradient of nn.layer_norm with respect to its input (0) or gamma (1)";
  let description = [{
    Operand 0 gives the input's shape, operand 1 gamma's (summed over the rest). beta's
    gradient is nn.reduce_to of dy.

    ```mlir
    %dx = nn.layer_norm_grad %dy, %x, %g {axis = 2 : i64, epsilon = 1.0e-03 : f64, rms_scaling = false, operand = 0 : i64}
        : (tensor<?x5x8xf32>, tensor<?x5x8xf32>, tensor<8xf32>) -> tensor<?x5x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$input, NN_Tensor:$gamma, I64Attr:$axis,
                   F64Attr:$epsilon, BoolAttr:$rms_scaling, I64Attr:$operand);
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------------------------===//
// Training: gradients, losses and the optimizer step (built by nn-autodiff)
//===----------------------------------------------------------------------------------------===//

def NN_MatMulGradInputOp : NN_ShapedOp<"matmul_grad_input"> {
  let summary = "gradient of nn.matmul with respect to its input: dy . kernel^T";
  let description = [{
    `dy` is `[B, ..., N]`, the kernel `[K, N]`; the result is `[B, ..., K]`.

    ```mlir
    %dx = nn.matmul_grad_input %dy, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$kernel);
}

def NN_MatMulGradKernelOp : NN_ShapedOp<"matmul_grad_kernel"> {
  let summary = "gradient of nn.matmul with respect to its kernel: input^T . dy";
  let description = [{
    Contracts all leading (row) axes of the forward input `[B, ..., K]` and `dy` `[B, ..., N]`,
    giving the kernel's shape `[K, N]` (summed over the batch).

    ```mlir
    %dw = nn.matmul_grad_kernel %x, %dy : (tensor<?x4xf32>, tensor<?x8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, NN_Tensor:$grad);
}

def NN_ReduceToOp : NN_ShapedOp<"reduce_to"> {
  let summary = "sums a tensor over the axes along which `shape` was broadcast";
  let description = [{
    The adjoint of numpy broadcasting: `shape` (-1 for the batch axis) must broadcast to the
    input's shape; axes that are missing or 1 in `shape` are summed. Gradients of biases,
    broadcast weights and broadcast operands of nn.binary.

    ```mlir
    %db = nn.reduce_to %dy {shape = [8]} : (tensor<?x8xf32>) -> tensor<8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64ArrayAttr:$shape);
}

def NN_ActivationGradOp : NN_ShapedOp<"activation_grad"> {
  let summary = "dy * f'(x) for an nn.activation with the same attributes";
  let description = [{
    `input` is the forward op's input `x` — or, for plain relu and relu6, may be its output
    `f(x)`: their derivative is the same at both (nn-autodiff passes the output so the
    pre-activation need not stay alive).

    ```mlir
    %dx = nn.activation_grad %dy, %x {fn = "tanh"} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$input, StrAttr:$fn, OptionalAttr<F64Attr>:$alpha,
                   OptionalAttr<F64Attr>:$max_value, OptionalAttr<F64Attr>:$threshold);
  let hasVerifier = 1;
}

def NN_BinaryGradOp : NN_ShapedOp<"binary_grad"> {
  let summary = "gradient of nn.binary with respect to one operand, at the broadcast shape";
  let description = [{
    `operand` is 0 (lhs) or 1 (rhs). The result has dy's (the broadcast) shape; nn.reduce_to
    brings it back to the operand's shape. max/min send the gradient to the operand that was
    selected (lhs on ties, as `x >= y ? x : y` does).

    ```mlir
    %da = nn.binary_grad %dy, %a, %b {fn = "mul", operand = 0 : i64}
        : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$lhs, NN_Tensor:$rhs, StrAttr:$fn,
                   I64Attr:$operand);
  let hasVerifier = 1;
}

def NN_PReluGradOp : NN_ShapedOp<"prelu_grad"> {
  let summary = "gradient of nn.prelu with respect to its input (operand 0) or alpha (1)";
  let description = [{
    Input: `dy * (x > 0 ? 1 : alpha)`; alpha: `dy * min(x, 0)`, at the input's shape (then
    nn.reduce_to to alpha's shape).

    ```mlir
    %dx = nn.prelu_grad %dy, %x, %alpha {operand = 0 : i64}
        : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$input, NN_Tensor:$alpha, I64Attr:$operand);
}

def NN_NormalizeGradOp : NN_ShapedOp<"normalize_grad"> {
  let summary = "gradient of nn.normalize with respect to its input";
  let description = [{
    `dy / max(sqrt(variance), epsilon)`, or `dy * max(sqrt(variance), epsilon)` when `invert`.

    ```mlir
    %dx = nn.normalize_grad %dy, %var {epsilon = 1.0e-07 : f64, invert = false}
        : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$variance, F64Attr:$epsilon, BoolAttr:$invert);
}

def NN_SoftmaxGradOp : NN_ShapedOp<"softmax_grad"> {
  let summary = "gradient of nn.softmax from its output";
  let description = [{
    With `y` the forward output along `axis`: softmax `y * (dy - sum(dy * y))`; log-softmax
    `dy - exp(y) * sum(dy)`.

    ```mlir
    %dx = nn.softmax_grad %dy, %y {axis = 1 : i64, log = false}
        : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, NN_Tensor:$output, I64Attr:$axis, BoolAttr:$log);
}

def NN_SliceOp : NN_ShapedOp<"slice"> {
  let summary = "a contiguous range of one non-batch axis (the gradient of nn.concat)";
  let description = [{
    ```mlir
    %s = nn.slice %dy {axis = 1 : i64, offset = 4 : i64, size = 2 : i64} : (tensor<?x6xf32>) -> tensor<?x2xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, I64Attr:$axis, I64Attr:$offset, I64Attr:$size);
}

def NN_NoiseGradOp : NN_ShapedOp<"noise_grad"> {
  let summary = "gradient of a training-mode nn.noise, recomputing its random draws";
  let description = [{
    Dropout: `dy * mask / (1 - rate)`; GaussianDropout: `dy * noise`; AlphaDropout: `dy * a * mask`;
    GaussianNoise and ActivityRegularization: `dy`. The draws come from the counter-based RNG
    stream `stream` (the same as the forward nn.noise), so nothing is stored between passes.

    ```mlir
    %dx = nn.noise_grad %dy {layer_class = "Dropout", rate = 5.0e-01 : f64, stream = 0 : i64}
        : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$grad, StrAttr:$layer_class, OptionalAttr<F64Attr>:$rate,
                   I64Attr:$stream);
}

def NN_LossOp : NN_ShapedOp<"loss"> {
  let summary = "a Keras loss, reduced to a scalar (sum over batch size) and weighted";
  let description = [{
    `fn` is the Keras function name (mean_squared_error, categorical_crossentropy, ...);
    `config` holds its Keras options (from_logits, label_smoothing, delta); `weight` is the
    output's loss weight. Targets have the prediction's shape, or for
    sparse_categorical_crossentropy the prediction's shape without its last axis.

    ```mlir
    %l = nn.loss %pred, %y {fn = "sparse_categorical_crossentropy", config = {from_logits = false}, weight = 1.0 : f64}
        : (tensor<?x10xf32>, tensor<?xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins NN_Tensor:$prediction, NN_Tensor:$target, StrAttr:$fn,
                   DictionaryAttr:$config, F64Attr:$weight);
  let hasVerifier = 1;
}

def NN_LossGradOp : NN_ShapedOp<"loss_grad"> {
  let summary = "gradient of nn.loss (with the same attributes) with respect to the prediction";
  let description = [{
    ```mlir
    %g = nn.loss_grad %pred, %y {fn = "mean_squared_error", config = {}, weight = 1.0 : f64}
        : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$prediction, NN_Tensor:$target, StrAttr:$fn,
                   DictionaryAttr:$config, F64Attr:$weight);
}

def NN_RegularizerOp : NN_ShapedOp<"regularizer"> {
  let summary = "a regularizer's penalty: l1 * sum|w| + l2 * sum w^2";
  let description = [{
    On a weight (Keras's kernel_regularizer, ...), or with `batch_mean` on an activation, divided
    by the batch size as Keras 3 does for activity regularization.

    ```mlir
    %r = nn.regularizer %w {l1 = 0.0 : f64, l2 = 1.0e-02 : f64} : (tensor<4x8xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, F64Attr:$l1, F64Attr:$l2,
                   OptionalAttr<BoolAttr>:$batch_mean);
}

def NN_RegularizerGradOp : NN_ShapedOp<"regularizer_grad"> {
  let summary = "gradient of nn.regularizer: l1 * sign(w) + 2 * l2 * w (/ batch with batch_mean)";
  let description = [{
    ```mlir
    %g = nn.regularizer_grad %w {l1 = 0.0 : f64, l2 = 1.0e-02 : f64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, F64Attr:$l1, F64Attr:$l2,
                   OptionalAttr<BoolAttr>:$batch_mean);
}

def NN_ApplyGradientsOp : NN_Op<"apply_gradients"> {
  let summary = "one optimizer step: updates the named weights from their gradients";
  let description = [{
    The last op of a training step. `weights` names the trainable weights (weight-store keys),
    one per gradient operand. The optimizer (and its hyperparameters, schedule, clipping and the
    weights' constraints) is described by the enclosing function's `nn.optimizer` attribute; the
    code generator calls the runtime optimizer, which keeps its own state.

    ```mlir
    nn.apply_gradients %gw, %gb {weights = ["dense/kernel", "dense/bias"]} : tensor<4x8xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<NN_Tensor>:$grads, StrArrayAttr:$weights);
  let assemblyFormat = "$grads attr-dict `:` type($grads)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------------------------===//

def NN_FusedOp : NN_Op<"fused", [IsolatedFromAbove, NoSideEffect,
                                 SingleBlock]> {
  let summary = "a group of ops computed as one kernel";
  let description = [{
    Made by `nn-fuse-epilogues`. The body is a single block whose arguments mirror the operands
    and whose ops run as one kernel: either a `nn.matmul` followed by an elementwise epilogue,
    or an elementwise chain. Values inside the body never touch memory; only the yielded value
    does. The op's location fuses the locations (Keras layer names) of the ops inside.

    ```mlir
    %y = nn.fused (%x, %w, %b) : (tensor<?x4xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<?x8xf32> {
    ^bb0(%a: tensor<?x4xf32>, %k: tensor<4x8xf32>, %c: tensor<8xf32>):
      %0 = nn.matmul %a, %k : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
      %1 = nn.bias_add %0, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
      %2 = nn.activation %1 {fn = "relu"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
      nn.yield %2 : tensor<?x8xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<NN_Tensor>:$inputs);
  let results = (outs NN_Tensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "`(` $inputs `)` attr-dict `:` functional-type($inputs, results) $body";
  let hasVerifier = 1;
}

def NN_YieldOp : NN_Op<"yield", [NoSideEffect, Terminator, HasParent<"FusedOp">]> {
  let summary = "returns the value of a fused group";
  let description = [{
    Terminates the body of `nn.fused`.

    ```mlir
    nn.yield %2 : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

#endif // KERASC_NN_OPS
