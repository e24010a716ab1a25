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
