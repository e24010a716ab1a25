// RUN: kerasc-opt %s -split-input-file -verify-diagnostics -nn-infer-shapes | FileCheck %s

// Unranked results are refined in program order and the function type follows.
// CHECK-LABEL: func.func @mlp(%arg0: tensor<?x4xf32>) -> tensor<?x3xf32>
// CHECK: nn.matmul {{.*}} -> tensor<?x8xf32>
// CHECK: nn.bias_add {{.*}} -> tensor<?x8xf32>
// CHECK: nn.activation {{.*}} -> tensor<?x8xf32>
// CHECK: nn.matmul {{.*}} -> tensor<?x3xf32>
// CHECK: nn.softmax {{.*}} -> tensor<?x3xf32>
func.func @mlp(%x: tensor<?x4xf32>) -> tensor<*xf32> {
  %w0 = nn.weight "d0/kernel" : tensor<4x8xf32>
  %b0 = nn.weight "d0/bias" : tensor<8xf32>
  %w1 = nn.weight "d1/kernel" : tensor<8x3xf32>
  %0 = nn.matmul %x, %w0 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<*xf32>
  %1 = nn.bias_add %0, %b0 : (tensor<*xf32>, tensor<8xf32>) -> tensor<*xf32>
  %2 = nn.activation %1 {fn = "relu"} : (tensor<*xf32>) -> tensor<*xf32>
  %3 = nn.matmul %2, %w1 : (tensor<*xf32>, tensor<8x3xf32>) -> tensor<*xf32>
  %4 = nn.softmax %3 {axis = 1 : i64, log = false} : (tensor<*xf32>) -> tensor<*xf32>
  return %4 : tensor<*xf32>
}

// -----

// Data movement and broadcasting.
// CHECK-LABEL: func.func @movement
// CHECK: nn.reshape {{.*}} -> tensor<?x3x4xf32>
// CHECK: nn.transpose {{.*}} -> tensor<?x4x3xf32>
// CHECK: nn.repeat {{.*}} -> tensor<?x2x12xf32>
// CHECK: nn.concat {{.*}} -> tensor<?x2x24xf32>
// CHECK: nn.binary {{.*}} -> tensor<?x2x24xf32>
// CHECK: nn.prelu {{.*}} -> tensor<?x2x24xf32>
func.func @movement(%x: tensor<?x12xf32>, %s: tensor<24xf32>) -> tensor<*xf32> {
  %a = nn.weight "p/alpha" : tensor<1x24xf32>
  %0 = nn.reshape %x {shape = [3, 4]} : (tensor<?x12xf32>) -> tensor<*xf32>
  %1 = nn.transpose %0 {perm = [0, 2, 1]} : (tensor<*xf32>) -> tensor<*xf32>
  %2 = nn.repeat %x {times = 2 : i64} : (tensor<?x12xf32>) -> tensor<*xf32>
  %3 = nn.concat %2, %2 {axis = 2 : i64} : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %4 = nn.binary %3, %s {fn = "mul"} : (tensor<*xf32>, tensor<24xf32>) -> tensor<*xf32>
  %5 = nn.prelu %4, %a : (tensor<*xf32>, tensor<1x24xf32>) -> tensor<*xf32>
  return %5 : tensor<*xf32>
}

// -----

func.func @mismatch(%x: tensor<?x5xf32>) -> tensor<*xf32> {
  %w = nn.weight "d/kernel" : tensor<4x8xf32>
  // expected-error @+1 {{input's last axis is 5 but the kernel expects 4}}
  %0 = nn.matmul %x, %w : (tensor<?x5xf32>, tensor<4x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @wrong_ranked_result(%x: tensor<?x4xf32>) -> tensor<?x5xf32> {
  %w = nn.weight "d/kernel" : tensor<4x8xf32>
  // expected-error @+1 {{result shape [?, 5] disagrees with the inferred shape [?, 8]}}
  %0 = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}
