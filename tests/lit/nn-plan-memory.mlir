// RUN: kerasc-opt %s -split-input-file -nn-plan-memory | FileCheck %s

// A chain: buffers alternate between two slots (64-byte aligned, bytes per sample); the
// returned value is written straight into output 0.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: nn.arena_bytes = 128 : i64
// CHECK-SAME: nn.lower_bound_bytes = 128 : i64
// CHECK-SAME: nn.no_reuse_bytes = 192 : i64
// CHECK: nn.activation %arg0 {fn = "relu", nn.arena_offset = [[A:[0-9]+]] : i64}
// CHECK: nn.activation %{{.*}} {fn = "tanh", nn.arena_offset = [[B:[0-9]+]] : i64}
// CHECK: nn.activation %{{.*}} {fn = "sigmoid", nn.arena_offset = [[A]] : i64}
// CHECK: nn.activation %{{.*}} {fn = "elu", nn.output = 0 : i64}
func.func @chain(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.activation %x {fn = "relu"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %1 = nn.activation %0 {fn = "tanh"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %2 = nn.activation %1 {fn = "sigmoid"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %3 = nn.activation %2 {fn = "elu"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  return %3 : tensor<?x16xf32>
}

// -----

// A skip connection keeps %0 alive across the branch, so three buffers overlap in time; a
// reshape is a view that extends its owner's lifetime instead of taking space.
// CHECK-LABEL: func.func @skip
// CHECK-SAME: nn.arena_bytes = 192 : i64
// CHECK-SAME: nn.lower_bound_bytes = 192 : i64
// CHECK-SAME: nn.no_reuse_bytes = 256 : i64
// CHECK: nn.activation %arg0 {fn = "relu", nn.arena_offset = [[X:[0-9]+]] : i64}
// CHECK: nn.reshape
// CHECK-NOT: nn.arena_offset
// CHECK-SAME: -> tensor<?x4x4xf32>
func.func @skip(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.activation %x {fn = "relu"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %v = nn.reshape %0 {shape = [4, 4]} : (tensor<?x16xf32>) -> tensor<?x4x4xf32>
  %1 = nn.activation %0 {fn = "tanh"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %2 = nn.activation %1 {fn = "sigmoid"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %3 = nn.activation %2 {fn = "selu"} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %f = nn.reshape %v {shape = [16]} : (tensor<?x4x4xf32>) -> tensor<?x16xf32>
  %4 = nn.binary %3, %f {fn = "add"} : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %4 : tensor<?x16xf32>
}

// -----

// A training step: weight gradients (no batch axis) go to the fixed-size region with absolute
// offsets, activations to the per-sample region; apply_gradients has no result to place. Both
// gradients live until the optimizer step, so they cannot share (2 x 64 bytes = 128 fixed); the
// prediction is still live when the loss gradient is computed (2 x 64 bytes per sample).
// CHECK-LABEL: func.func @step
// CHECK-SAME: nn.arena_bytes = 128 : i64
// CHECK-SAME: nn.fixed_bytes = 128 : i64
// CHECK-SAME: nn.lower_bound_fixed_bytes = 128 : i64
// CHECK-SAME: nn.no_reuse_fixed_bytes = 128 : i64
// CHECK: nn.matmul {{.*}}nn.arena_offset = 0 : i64
// CHECK: nn.loss {{.*}}nn.output = 0 : i64
// CHECK: nn.loss_grad {{.*}}nn.arena_offset = 64 : i64
// CHECK: nn.matmul_grad_kernel {{.*}}nn.fixed_offset = [[A:[0-9]+]] : i64
// CHECK: nn.reduce_to {{.*}}nn.fixed_offset = [[B:[0-9]+]] : i64
// CHECK: nn.apply_gradients
func.func @step(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<f32> attributes {nn.training} {
  %w = nn.weight "d/kernel" : tensor<4x4xf32>
  %p = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %l = nn.loss %p, %y {fn = "mean_squared_error", config = {}, weight = 1.0 : f64} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<f32>
  %g = nn.loss_grad %p, %y {fn = "mean_squared_error", config = {}, weight = 1.0 : f64} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %gw = nn.matmul_grad_kernel %x, %g : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<4x4xf32>
  %gb = nn.reduce_to %g {shape = [4]} : (tensor<?x4xf32>) -> tensor<4xf32>
  nn.apply_gradients %gw, %gb {weights = ["d/kernel", "d/bias"]} : tensor<4x4xf32>, tensor<4xf32>
  return %l : tensor<f32>
}

// -----

// Scratch (nn.workspace_bytes, from nn-choose-conv-algorithm) is a buffer live only while its op
// runs: it must not overlap the op's input or result, and a later buffer reuses its space.
// Largest first: the scratch (1000 -> 1024 B) at 0, %0 and %1 (256 B each) above it, and %2,
// born after the conv, back at 0. The plan meets the lower bound: 256 + 1024 + 256.
// CHECK-LABEL: func.func @workspace
// CHECK-SAME: nn.arena_bytes = 1536 : i64
// CHECK-SAME: nn.lower_bound_bytes = 1536 : i64
// CHECK: nn.activation %arg0 {fn = "relu", nn.arena_offset = 1024 : i64}
// CHECK: nn.conv {{.*}}nn.arena_offset = 1280 : i64, nn.workspace_bytes = 1000 : i64, nn.workspace_offset = 0 : i64
// CHECK: nn.activation {{.*}}{fn = "tanh", nn.arena_offset = 0 : i64}
func.func @workspace(%x: tensor<?x4x4x4xf32>, %w: tensor<3x3x4x4xf32>) -> tensor<?x4x4x4xf32> {
  %0 = nn.activation %x {fn = "relu"} : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %1 = nn.conv %0, %w {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64, nn.workspace_bytes = 1000 : i64} : (tensor<?x4x4x4xf32>, tensor<3x3x4x4xf32>) -> tensor<?x4x4x4xf32>
  %2 = nn.activation %1 {fn = "tanh"} : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %3 = nn.activation %2 {fn = "sigmoid"} : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  return %3 : tensor<?x4x4x4xf32>
}
