// RUN: kerasc-opt %s -split-input-file -nn-fuse-epilogues | FileCheck %s

// Dense + bias + activation become one kernel; softmax (a reduction) stays outside.
// CHECK-LABEL: func.func @dense
// CHECK: %[[F:.*]] = nn.fused(%arg0, %{{.*}}, %{{.*}})
// CHECK-NEXT: ^bb0(
// CHECK-NEXT: nn.matmul
// CHECK-NEXT: nn.bias_add
// CHECK-NEXT: nn.activation {{.*}}"relu"
// CHECK-NEXT: nn.yield
// CHECK: nn.softmax %[[F]]
func.func @dense(%x: tensor<?x4xf32>) -> tensor<?x8xf32> {
  %w = nn.weight "d/kernel" : tensor<4x8xf32>
  %b = nn.weight "d/bias" : tensor<8xf32>
  %0 = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = nn.activation %1 {fn = "relu"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %3 = nn.softmax %2 {axis = 1 : i64, log = false} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %3 : tensor<?x8xf32>
}

// -----

// A value with two users is not fused into its consumer: it must reach memory.
// CHECK-LABEL: func.func @multi_use
// CHECK: %[[D:.*]] = nn.fused
// CHECK: nn.matmul
// CHECK: nn.bias_add
// CHECK-NOT: nn.activation
// CHECK: nn.yield
// CHECK: nn.activation %[[D]] {fn = "tanh"}
// CHECK: nn.activation %[[D]] {fn = "sigmoid"}
func.func @multi_use(%x: tensor<?x4xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %w = nn.weight "d/kernel" : tensor<4x8xf32>
  %b = nn.weight "d/bias" : tensor<8xf32>
  %0 = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = nn.activation %1 {fn = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %3 = nn.activation %1 {fn = "sigmoid"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %2, %3 : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A residual add joins the matmul epilogue; after a view (reshape), an elementwise chain
// fuses on its own.
// CHECK-LABEL: func.func @residual_and_chain
// CHECK: %[[R:.*]] = nn.fused(%arg0, %{{.*}}, %{{.*}}, %arg1)
// CHECK: nn.matmul
// CHECK: nn.bias_add
// CHECK: nn.binary {{.*}}"add"
// CHECK: nn.yield
// CHECK: %[[V:.*]] = nn.reshape %[[R]]
// CHECK: nn.fused(%[[V]])
// CHECK: nn.rescale
// CHECK: nn.activation {{.*}}"elu"
// CHECK: nn.yield
func.func @residual_and_chain(%x: tensor<?x4xf32>, %skip: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = nn.weight "d/kernel" : tensor<4x4xf32>
  %b = nn.weight "d/bias" : tensor<4xf32>
  %0 = nn.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %2 = nn.binary %1, %skip {fn = "add"} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %3 = nn.reshape %2 {shape = [4]} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %4 = nn.rescale %3 {offset = 1.000000e+00 : f64, scale = 5.000000e-01 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %5 = nn.activation %4 {fn = "elu", alpha = 1.000000e+00 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %5 : tensor<?x4xf32>
}

// -----

// A convolution heads a group like a matmul: conv + bias + relu become one kernel, and so do a
// transposed convolution and its bias. A kernel gradient (nn.conv_grad_kernel) has no
// epilogue and stays on its own.
// CHECK-LABEL: func.func @conv
// CHECK: %[[C:.*]] = nn.fused(%arg0, %{{.*}}, %{{.*}})
// CHECK-NEXT: ^bb0(
// CHECK-NEXT: nn.conv
// CHECK-NEXT: nn.bias_add
// CHECK-NEXT: nn.activation {{.*}}"relu"
// CHECK-NEXT: nn.yield
// CHECK: %[[T:.*]] = nn.fused(%[[C]], %{{.*}}, %{{.*}})
// CHECK-NEXT: ^bb0(
// CHECK-NEXT: nn.conv_transpose
// CHECK-NEXT: nn.bias_add
// CHECK-NEXT: nn.yield
// CHECK: nn.conv_grad_kernel %arg0, %[[C]]
func.func @conv(%x: tensor<?x8x8x3xf32>) -> (tensor<?x16x16x2xf32>, tensor<3x3x3x4xf32>) {
  %w = nn.weight "c/kernel" : tensor<3x3x3x4xf32>
  %b = nn.weight "c/bias" : tensor<4xf32>
  %wt = nn.weight "t/kernel" : tensor<2x2x2x4xf32>
  %bt = nn.weight "t/bias" : tensor<2xf32>
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64} : (tensor<?x8x8x3xf32>, tensor<3x3x3x4xf32>) -> tensor<?x8x8x4xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x8x8x4xf32>, tensor<4xf32>) -> tensor<?x8x8x4xf32>
  %2 = nn.activation %1 {fn = "relu"} : (tensor<?x8x8x4xf32>) -> tensor<?x8x8x4xf32>
  %3 = nn.conv_transpose %2, %wt {strides = [2, 2], dilations = [1, 1], padding = [0, 0, 0, 0], groups = 1 : i64} : (tensor<?x8x8x4xf32>, tensor<2x2x2x4xf32>) -> tensor<?x16x16x2xf32>
  %4 = nn.bias_add %3, %bt : (tensor<?x16x16x2xf32>, tensor<2xf32>) -> tensor<?x16x16x2xf32>
  %5 = nn.conv_grad_kernel %x, %2 {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64, kernel_spatial = [3, 3]} : (tensor<?x8x8x3xf32>, tensor<?x8x8x4xf32>) -> tensor<3x3x3x4xf32>
  return %4, %5 : tensor<?x16x16x2xf32>, tensor<3x3x3x4xf32>
}
