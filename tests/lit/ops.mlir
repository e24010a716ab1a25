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

// The CNN ops round-trip, and their result shapes are the inferred ones.
// CHECK-LABEL: func.func @cnn_ops
func.func @cnn_ops(%x: tensor<?x7x9x4xf32>, %w: tensor<3x3x2x6xf32>, %wt: tensor<2x2x5x6xf32>,
                   %c: tensor<6xf32>, %s: tensor<1x1x6xf32>) -> tensor<?x16x22x5xf32> {
  // CHECK: nn.conv {{.*}} groups = 2 : i64
  %0 = nn.conv %x, %w {strides = [2, 1], dilations = [1, 2], padding = [1, 1, 2, 2], groups = 2 : i64} : (tensor<?x7x9x4xf32>, tensor<3x3x2x6xf32>) -> tensor<?x4x9x6xf32>
  // CHECK: nn.conv_grad_kernel {{.*}} kernel_spatial = [3, 3]
  %1 = nn.conv_grad_kernel %x, %0 {strides = [2, 1], dilations = [1, 2], padding = [1, 1, 2, 2], groups = 2 : i64, kernel_spatial = [3, 3]} : (tensor<?x7x9x4xf32>, tensor<?x4x9x6xf32>) -> tensor<3x3x2x6xf32>
  // CHECK: nn.batch_norm {{.*}} {axis = 3 : i64, epsilon = 1.000000e-03 : f64}
  %2 = nn.batch_norm %0, %c, %c, %c, %s {axis = 3 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x4x9x6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<1x1x6xf32>) -> tensor<?x4x9x6xf32>
  // CHECK: nn.batch_norm_train
  %3 = nn.batch_norm_train %2, %c, %c, %c, %c {axis = 3 : i64, epsilon = 1.0e-03 : f64, momentum = 0.99 : f64} : (tensor<?x4x9x6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<?x4x9x6xf32>
  // CHECK: nn.batch_norm_grad {{.*}} operand = 1 : i64
  %4 = nn.batch_norm_grad %3, %2, %c {axis = 3 : i64, epsilon = 1.0e-03 : f64, operand = 1 : i64} : (tensor<?x4x9x6xf32>, tensor<?x4x9x6xf32>, tensor<6xf32>) -> tensor<6xf32>
  // CHECK: nn.layer_norm
  %5 = nn.layer_norm %3, %c, %c {axis = 3 : i64, epsilon = 1.0e-03 : f64, rms_scaling = false} : (tensor<?x4x9x6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<?x4x9x6xf32>
  // CHECK: nn.layer_norm_grad
  %6 = nn.layer_norm_grad %5, %3, %c {axis = 3 : i64, epsilon = 1.0e-03 : f64, rms_scaling = false, operand = 0 : i64} : (tensor<?x4x9x6xf32>, tensor<?x4x9x6xf32>, tensor<6xf32>) -> tensor<?x4x9x6xf32>
  // CHECK: nn.pool {{.*}} {kind = "avg", padding = [1, 1, 0, 1], strides = [1, 2], window = [3, 2]}
  %7 = nn.pool %6 {kind = "avg", window = [3, 2], strides = [1, 2], padding = [1, 1, 0, 1]} : (tensor<?x4x9x6xf32>) -> tensor<?x4x5x6xf32>
  // CHECK: nn.pool_grad
  %8 = nn.pool_grad %7, %6 {kind = "avg", window = [3, 2], strides = [1, 2], padding = [1, 1, 0, 1]} : (tensor<?x4x5x6xf32>, tensor<?x4x9x6xf32>) -> tensor<?x4x9x6xf32>
  // CHECK: nn.pad {{.*}}{pads = [1, 1, -1, 0, 0, 0]
  %9 = nn.pad %8 {pads = [1, 1, -1, 0, 0, 0]} : (tensor<?x4x9x6xf32>) -> tensor<?x6x8x6xf32>
  // CHECK: nn.resize {{.*}}{method = "bilinear"
  %10 = nn.resize %9 {scale = [2, 3], method = "bilinear"} : (tensor<?x6x8x6xf32>) -> tensor<?x12x24x6xf32>
  // CHECK: nn.resize_grad
  %11 = nn.resize_grad %10 {scale = [2, 3], method = "bilinear"} : (tensor<?x12x24x6xf32>) -> tensor<?x6x8x6xf32>
  // (6 - 1) * 3 + (2 - 1) + 1 - 1 - 0 = 16; (8 - 1) * 3 + (2 - 1) + 1 - 0 - (-1) = 24 (output_padding)
  // CHECK: nn.conv_transpose
  %12 = nn.conv_transpose %11, %wt {strides = [3, 3], dilations = [1, 1], padding = [1, 0, 0, -1], groups = 1 : i64} : (tensor<?x6x8x6xf32>, tensor<2x2x5x6xf32>) -> tensor<?x16x24x5xf32>
  %13 = nn.pad %12 {pads = [0, 0, 0, -2, 0, 0]} : (tensor<?x16x24x5xf32>) -> tensor<?x16x22x5xf32>
  // CHECK: nn.noise {{.*}}{config = {mode = "horizontal"}
  %14 = nn.noise %13 {layer_class = "RandomFlip", config = {mode = "horizontal"}} : (tensor<?x16x22x5xf32>) -> tensor<?x16x22x5xf32>
  return %14 : tensor<?x16x22x5xf32>
}
