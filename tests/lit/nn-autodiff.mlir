// RUN: kerasc-opt %s --nn-autodiff --split-input-file --verify-diagnostics | FileCheck %s

// A Dense(relu) -> Dropout -> Dense + frozen Dense -> softmax model with an L2 regularizer.
// CHECK-LABEL: func.func @model(
// CHECK-LABEL: func.func @model_train_step(
// CHECK-SAME: %{{.*}}: tensor<?x4xf32>, %[[Y:.*]]: tensor<?xf32> {nn.name = "target0"}) -> (tensor<f32> {nn.name = "loss"}, tensor<?x3xf32>) attributes {nn.training}
// CHECK: %[[K1:.*]] = nn.weight "dense/kernel"
// CHECK: nn.bias_add
// CHECK: %[[RELU:.*]] = nn.activation %{{.*}} {fn = "relu"}
// CHECK: %[[DROP:.*]] = nn.noise %{{.*}} {layer_class = "Dropout", rate = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: %[[K2:.*]] = nn.weight "out/kernel"
// CHECK: %[[P:.*]] = nn.softmax
// CHECK: %[[L:.*]] = nn.loss %[[P]], %[[Y]] {{.*}}fn = "sparse_categorical_crossentropy"
// CHECK: %[[R:.*]] = nn.regularizer %[[K2]]
// CHECK: %[[TOTAL:.*]] = nn.binary %[[L]], %[[R]] {fn = "add"}
// CHECK: %[[G0:.*]] = nn.loss_grad %[[P]], %[[Y]]
// CHECK: %[[G1:.*]] = nn.softmax_grad %[[G0]], %[[P]]
// The frozen kernel's branch gets no gradient at all.
// CHECK-NOT: nn.matmul_grad_{{.*}}frozen
// CHECK: %[[G2:.*]] = nn.matmul_grad_input %[[G1]], %[[K2]]
// CHECK: %[[GK2:.*]] = nn.matmul_grad_kernel %[[DROP]], %[[G1]]
// CHECK: %[[G3:.*]] = nn.noise_grad %[[G2]] {layer_class = "Dropout", rate = 5.000000e-01 : f64, stream = 0 : i64}
// Relu is differentiated at its output (same derivative), so its input dies after the forward.
// CHECK: %[[G4:.*]] = nn.activation_grad %[[G3]], %[[RELU]] {fn = "relu"}
// CHECK: %[[GB:.*]] = nn.reduce_to %[[G4]] {shape = [8]}
// CHECK: %[[GK1:.*]] = nn.matmul_grad_kernel %{{.*}}, %[[G4]]
// CHECK: %[[GR:.*]] = nn.regularizer_grad %[[K2]]
// CHECK: %[[GK2T:.*]] = nn.binary %[[GK2]], %[[GR]] {fn = "add"}
// CHECK: nn.apply_gradients %[[GK1]], %[[GB]], %[[GK2T]] {weights = ["dense/kernel", "dense/bias", "out/kernel"]}
// CHECK: return %[[TOTAL]], %[[P]]
// CHECK-LABEL: func.func @model_test_step(
// CHECK-NOT: _grad
// CHECK-NOT: apply_gradients
// CHECK: return
func.func @model(%x: tensor<?x4xf32>) -> tensor<?x3xf32> attributes {nn.losses = [{fn = "sparse_categorical_crossentropy", config = {from_logits = false}, weight = 1.0 : f64}]} {
  %w = nn.weight "dense/kernel" : tensor<4x8xf32>
  %b = nn.weight "dense/bias" : tensor<8xf32>
  %0 = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = nn.activation %1 {fn = "relu"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %d = nn.noise %2 {layer_class = "Dropout", rate = 0.5 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %w2 = nn.weight "out/kernel" {nn.regularizer = {l1 = 0.0 : f64, l2 = 0.01 : f64}} : tensor<8x3xf32>
  %w3 = nn.weight "frozen/kernel" {nn.trainable = false} : tensor<4x3xf32>
  %3 = nn.matmul %d, %w2 : (tensor<?x8xf32>, tensor<8x3xf32>) -> tensor<?x3xf32>
  %4 = nn.matmul %x, %w3 : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %5 = nn.binary %3, %4 {fn = "add"} : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %6 = nn.softmax %5 {axis = 1 : i64, log = false} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %6 : tensor<?x3xf32>
}

// -----

// Views, merges and a shared weight: gradients of a shared kernel are summed over its uses;
// broadcast operands are reduced back to their shape.
// CHECK-LABEL: func.func @views_train_step
// CHECK: %[[DY:.*]] = nn.loss_grad
// CHECK: %[[DA:.*]] = nn.slice %[[DY]] {axis = 1 : i64, offset = 0 : i64, size = 4 : i64}
// CHECK: %[[DB:.*]] = nn.slice %[[DY]] {axis = 1 : i64, offset = 4 : i64, size = 4 : i64}
// CHECK: nn.transpose %{{.*}} {perm = [0, 2, 1]} : (tensor<?x4x2xf32>) -> tensor<?x2x4xf32>
// CHECK: nn.reduce_to %{{.*}} {shape = [-1, 1, 4]} : (tensor<?x2x4xf32>) -> tensor<?x1x4xf32>
// CHECK: %[[DM:.*]] = nn.reshape %{{.*}} {shape = [4]} : (tensor<?x1x4xf32>) -> tensor<?x4xf32>
// CHECK: %[[DB2:.*]] = nn.binary_grad %[[DM]], %{{.*}}, %{{.*}} {fn = "mul", operand = 0 : i64}
// CHECK: %[[DBT:.*]] = nn.binary %[[DB]], %[[DB2]] {fn = "add"}
// CHECK: %[[DS:.*]] = nn.binary_grad %[[DM]], %{{.*}}, %{{.*}} {fn = "mul", operand = 1 : i64}
// CHECK: %[[DSR:.*]] = nn.reduce_to %[[DS]] {shape = [4]} : (tensor<?x4xf32>) -> tensor<4xf32>
// CHECK: %[[DA2:.*]] = nn.matmul_grad_input %[[DBT]]
// CHECK: %[[DAT:.*]] = nn.binary %[[DA]], %[[DA2]] {fn = "add"}
// CHECK: %[[K2:.*]] = nn.matmul_grad_kernel %{{.*}}, %[[DBT]]
// CHECK: %[[K1:.*]] = nn.matmul_grad_kernel %{{.*}}, %[[DAT]]
// CHECK: %[[SUM:.*]] = nn.binary %[[K1]], %[[K2]] {fn = "add"} : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
// CHECK: nn.apply_gradients %[[SUM]], %[[DSR]] {weights = ["shared/kernel", "scale/weights"]}
func.func @views(%x: tensor<?x4xf32>) -> tensor<?x8xf32> attributes {nn.losses = [{fn = "mean_squared_error", config = {}, weight = 1.0 : f64}]} {
  %w = nn.weight "shared/kernel" : tensor<4x4xf32>
  %a = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %w1 = nn.weight "shared/kernel" : tensor<4x4xf32>
  %b = nn.matmul %a, %w1 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %s = nn.weight "scale/weights" : tensor<4xf32>
  %m = nn.binary %b, %s {fn = "mul"} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = nn.repeat %m {times = 2 : i64} : (tensor<?x4xf32>) -> tensor<?x2x4xf32>
  %t = nn.transpose %r {perm = [0, 2, 1]} : (tensor<?x2x4xf32>) -> tensor<?x4x2xf32>
  %f = nn.reshape %t {shape = [8]} : (tensor<?x4x2xf32>) -> tensor<?x8xf32>
  %h = nn.reshape %f {shape = [2, 4]} : (tensor<?x8xf32>) -> tensor<?x2x4xf32>
  %g = nn.reshape %h {shape = [8]} : (tensor<?x2x4xf32>) -> tensor<?x8xf32>
  %c = nn.concat %a, %b {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  %o = nn.binary %g, %c {fn = "add"} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{nn-autodiff: no function has a training configuration (nn.losses)}}
module {
func.func @untrained(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}
}

// -----

// Image augmentation (owned by the augmentation layers). A RandomFlip that the gradient must
// cross gets an nn.noise_grad with the same stream and config (a flip is its own adjoint);
// SpatialDropout's gradient keeps its channels_first layout, so it redraws the same mask.
// CHECK-LABEL: func.func @augment_train_step(
// CHECK: nn.noise %{{.*}} {config = {data_format = "channels_last", mode = "horizontal"}, layer_class = "RandomFlip", stream = 1 : i64}
// CHECK: nn.noise %{{.*}} {channels_first = true, layer_class = "SpatialDropout2D", rate = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: nn.noise_grad %{{.*}} {channels_first = true, layer_class = "SpatialDropout2D", rate = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: nn.noise_grad %{{.*}} {config = {data_format = "channels_last", mode = "horizontal"}, layer_class = "RandomFlip", stream = 1 : i64}
func.func @augment(%x: tensor<?x2x3x4xf32>) -> tensor<?x2x3x4xf32> attributes {nn.losses = [{fn = "mean_squared_error", config = {}, weight = 1.0 : f64}]} {
  %w = nn.weight "dense/kernel" : tensor<4x4xf32>
  %0 = nn.matmul %x, %w : (tensor<?x2x3x4xf32>, tensor<4x4xf32>) -> tensor<?x2x3x4xf32>
  %1 = nn.noise %0 {layer_class = "RandomFlip", config = {mode = "horizontal", data_format = "channels_last"}} : (tensor<?x2x3x4xf32>) -> tensor<?x2x3x4xf32>
  %2 = nn.noise %1 {layer_class = "SpatialDropout2D", rate = 0.5 : f64, channels_first = true} : (tensor<?x2x3x4xf32>) -> tensor<?x2x3x4xf32>
  return %2 : tensor<?x2x3x4xf32>
}

// -----

// A resampling augmentation that a gradient would have to cross is an error naming the layer
// (here unnamed: its location is not a Keras layer's).
func.func @rotation_after_dense(%x: tensor<?x2x3x4xf32>) -> tensor<?x2x3x4xf32> attributes {nn.losses = [{fn = "mean_squared_error", config = {}, weight = 1.0 : f64}]} {
  %w = nn.weight "dense/kernel" : tensor<4x4xf32>
  %0 = nn.matmul %x, %w : (tensor<?x2x3x4xf32>, tensor<4x4xf32>) -> tensor<?x2x3x4xf32>
  // expected-error @+1 {{(RandomRotation): a gradient would have to flow through this augmentation layer}}
  %1 = nn.noise %0 {layer_class = "RandomRotation", config = {factor = 0.1 : f64}} : (tensor<?x2x3x4xf32>) -> tensor<?x2x3x4xf32>
  return %1 : tensor<?x2x3x4xf32>
}

// -----

// Pooling, padding/cropping and upsampling (owned by the pooling layers): the resize's gradient
// is nn.resize_grad with its attributes, a pad's is the pad with negated pads (padding and
// cropping are adjoint), and max pooling's is nn.pool_grad of dy and the pool's input.
// CHECK-LABEL: func.func @pool_pad_resize_train_step(
// CHECK: %[[IN:.*]] = nn.matmul
// CHECK: %[[G0:.*]] = nn.loss_grad
// CHECK: %[[G1:.*]] = nn.resize_grad %[[G0]] {method = "bilinear", scale = [2, 2]} : (tensor<?x8x6x2xf32>) -> tensor<?x4x3x2xf32>
// CHECK: %[[G2:.*]] = nn.pad %[[G1]] {pads = [-1, 0, 1, -1, 0, 0]} : (tensor<?x4x3x2xf32>) -> tensor<?x3x3x2xf32>
// CHECK: %[[G3:.*]] = nn.pool_grad %[[G2]], %[[IN]] {kind = "max", padding = [1, 1, 1, 0], strides = [2, 2], window = [3, 3]} : (tensor<?x3x3x2xf32>, tensor<?x5x6x2xf32>) -> tensor<?x5x6x2xf32>
// CHECK: nn.matmul_grad_kernel %{{.*}}, %[[G3]]
func.func @pool_pad_resize(%x: tensor<?x5x6x2xf32>) -> tensor<?x8x6x2xf32> attributes {nn.losses = [{fn = "mean_squared_error", config = {}, weight = 1.0 : f64}]} {
  %w = nn.weight "dense/kernel" : tensor<2x2xf32>
  %0 = nn.matmul %x, %w : (tensor<?x5x6x2xf32>, tensor<2x2xf32>) -> tensor<?x5x6x2xf32>
  %1 = nn.pool %0 {kind = "max", window = [3, 3], strides = [2, 2], padding = [1, 1, 1, 0]} : (tensor<?x5x6x2xf32>) -> tensor<?x3x3x2xf32>
  %2 = nn.pad %1 {pads = [1, 0, -1, 1, 0, 0]} : (tensor<?x3x3x2xf32>) -> tensor<?x4x3x2xf32>
  %3 = nn.resize %2 {scale = [2, 2], method = "bilinear"} : (tensor<?x4x3x2xf32>) -> tensor<?x8x6x2xf32>
  return %3 : tensor<?x8x6x2xf32>
}

// -----

// Convolutions (owned by the conv layers). nn.conv_transpose's input gradient is nn.conv of dy
// with the same attributes, its kernel gradient nn.conv_grad_kernel(dy, its input). nn.conv's
// input gradient is nn.conv_transpose with the after-padding reduced by the rows the stride
// skipped: along H, (8 + 1 + 1 - 2 - 1) mod 2 = 1, so [1, 1] becomes [1, 0] (and the result is
// 8 rows again); along W, (7 - 2 - 1) mod 2 = 0. Its kernel gradient is
// nn.conv_grad_kernel(x, dy) with kernel_spatial.
// CHECK-LABEL: func.func @conv_train_step(
// CHECK: %[[MM:.*]] = nn.matmul
// CHECK: %[[C:.*]] = nn.conv %[[MM]]
// CHECK: %[[DY:.*]] = nn.loss_grad
// CHECK: %[[DC:.*]] = nn.conv %[[DY]], %{{.*}} {dilations = [1, 1], groups = 1 : i64, padding = [0, 0, 0, 0], strides = [2, 2]} : (tensor<?x8x6x3xf32>, tensor<2x2x3x4xf32>) -> tensor<?x4x3x4xf32>
// CHECK: nn.conv_grad_kernel %[[DY]], %[[C]] {dilations = [1, 1], groups = 1 : i64, kernel_spatial = [2, 2], padding = [0, 0, 0, 0], strides = [2, 2]} : (tensor<?x8x6x3xf32>, tensor<?x4x3x4xf32>) -> tensor<2x2x3x4xf32>
// CHECK: %[[DX:.*]] = nn.conv_transpose %[[DC]], %{{.*}} {dilations = [1, 1], groups = 1 : i64, padding = [1, 0, 0, 0], strides = [2, 2]} : (tensor<?x4x3x4xf32>, tensor<3x3x2x4xf32>) -> tensor<?x8x7x2xf32>
// CHECK: nn.conv_grad_kernel %[[MM]], %[[DC]] {dilations = [1, 1], groups = 1 : i64, kernel_spatial = [3, 3], padding = [1, 1, 0, 0], strides = [2, 2]} : (tensor<?x8x7x2xf32>, tensor<?x4x3x4xf32>) -> tensor<3x3x2x4xf32>
// CHECK: nn.matmul_grad_kernel %{{.*}}, %[[DX]]
func.func @conv(%x: tensor<?x8x7x2xf32>) -> tensor<?x8x6x3xf32> attributes {nn.losses = [{fn = "mean_squared_error", config = {}, weight = 1.0 : f64}]} {
  %w0 = nn.weight "dense/kernel" : tensor<2x2xf32>
  %w1 = nn.weight "conv/kernel" : tensor<3x3x2x4xf32>
  %w2 = nn.weight "convt/kernel" : tensor<2x2x3x4xf32>
  %0 = nn.matmul %x, %w0 : (tensor<?x8x7x2xf32>, tensor<2x2xf32>) -> tensor<?x8x7x2xf32>
  %1 = nn.conv %0, %w1 {strides = [2, 2], dilations = [1, 1], padding = [1, 1, 0, 0], groups = 1 : i64} : (tensor<?x8x7x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x4x3x4xf32>
  %2 = nn.conv_transpose %1, %w2 {strides = [2, 2], dilations = [1, 1], padding = [0, 0, 0, 0], groups = 1 : i64} : (tensor<?x4x3x4xf32>, tensor<2x2x3x4xf32>) -> tensor<?x8x6x3xf32>
  return %2 : tensor<?x8x6x3xf32>
}
