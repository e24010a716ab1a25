// RUN: kerasc-opt %s | kerasc-opt | FileCheck %s
// RUN: kerasc-opt %s -mlir-print-op-generic | kerasc-opt | FileCheck %s

// Every op round-trips through its textual form (custom and generic).
// CHECK-LABEL: func.func @all_ops
func.func @all_ops(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // CHECK: nn.weight "d/kernel" : tensor<4x4xf32>
  %w = nn.weight "d/kernel" : tensor<4x4xf32>
  %b = nn.weight "d/bias" : tensor<4xf32>
  %m = nn.weight "n/mean" : tensor<4xf32>
  %v = nn.weight "n/variance" : tensor<4xf32>
  %a = nn.weight "p/alpha" : tensor<4xf32>
  // CHECK: nn.matmul
  %0 = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.bias_add
  %1 = nn.bias_add %0, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.activation %{{.*}} {alpha = 1.000000e-01 : f64, fn = "relu", max_value = 6.000000e+00 : f64, threshold = 5.000000e-01 : f64}
  %2 = nn.activation %1 {fn = "relu", alpha = 0.1 : f64, max_value = 6.0 : f64, threshold = 0.5 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.rescale
  %3 = nn.rescale %2 {scale = 2.0 : f64, offset = 1.0 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.binary {{.*}} {fn = "max"}
  %4 = nn.binary %3, %y {fn = "max"} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.normalize {{.*}} {epsilon = {{.*}} : f64, invert = true}
  %5 = nn.normalize %4, %m, %v {epsilon = 1.0e-07 : f64, invert = true} : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.prelu
  %6 = nn.prelu %5, %a : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.noise {{.*}} {layer_class = "GaussianDropout", rate = 2.000000e-01 : f64}
  %7 = nn.noise %6 {layer_class = "GaussianDropout", rate = 0.2 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.softmax {{.*}} {axis = 1 : i64, log = true}
  %8 = nn.softmax %7 {axis = 1 : i64, log = true} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: nn.reshape {{.*}} {shape = [2, 2]}
  %9 = nn.reshape %8 {shape = [2, 2]} : (tensor<?x4xf32>) -> tensor<?x2x2xf32>
  // CHECK: nn.transpose {{.*}} {perm = [0, 2, 1]}
  %10 = nn.transpose %9 {perm = [0, 2, 1]} : (tensor<?x2x2xf32>) -> tensor<?x2x2xf32>
  // CHECK: nn.repeat {{.*}} {times = 2 : i64}
  %11 = nn.repeat %x {times = 2 : i64} : (tensor<?x4xf32>) -> tensor<?x2x4xf32>
  %12 = nn.reshape %10 {shape = [4]} : (tensor<?x2x2xf32>) -> tensor<?x4xf32>
  // CHECK: nn.concat {{.*}} {axis = 1 : i64}
  %13 = nn.concat %12, %y {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  // CHECK: nn.fused
  // CHECK: nn.yield
  %14 = nn.fused (%13) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%t: tensor<?x8xf32>):
    %r = nn.activation %t {fn = "gelu_approximate"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    nn.yield %r : tensor<?x8xf32>
  }
  return %14 : tensor<?x8xf32>
}
