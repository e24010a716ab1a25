// RUN: kerasc-opt %s -split-input-file -nn-choose-conv-algorithm | FileCheck %s
// RUN: kerasc-opt %s -split-input-file -nn-choose-conv-algorithm=force=direct | FileCheck %s --check-prefix=DIRECT

// A 3x3 convolution over 8 channels: patches of 72 floats, 8x8 outputs -> 64 * 72 * 4 bytes.
// CHECK-LABEL: func.func @im2col
// CHECK: nn.conv {{.*}}algorithm = "im2col"{{.*}}nn.workspace_bytes = 18432 : i64
// DIRECT-LABEL: func.func @im2col
// DIRECT: nn.conv {{.*}}algorithm = "direct"
// DIRECT-NOT: nn.workspace_bytes
func.func @im2col(%x: tensor<?x8x8x8xf32>, %w: tensor<3x3x8x16xf32>) -> tensor<?x8x8x16xf32> {
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64} : (tensor<?x8x8x8xf32>, tensor<3x3x8x16xf32>) -> tensor<?x8x8x16xf32>
  return %0 : tensor<?x8x8x16xf32>
}

// -----

// One input channel, one group (LeNet's 5x5x1 first layer): direct, vectorized along the image
// rows (im2col's GEMM would have 6 columns). Strided along w, it takes im2col (patches of 25).
// CHECK-LABEL: func.func @single_channel
// CHECK: nn.conv {{.*}}algorithm = "direct"{{.*}}one input channel
// CHECK-NOT: nn.workspace_bytes
// CHECK: nn.conv {{.*}}algorithm = "im2col"{{.*}}nn.workspace_bytes = 19600 : i64
// CHECK: nn.conv_grad_kernel {{.*}}algorithm = "direct"{{.*}}one input channel
func.func @single_channel(%x: tensor<?x28x28x1xf32>, %w: tensor<5x5x1x6xf32>) -> (tensor<?x28x28x6xf32>, tensor<?x14x14x6xf32>, tensor<5x5x1x6xf32>) {
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [2, 2, 2, 2], groups = 1 : i64} : (tensor<?x28x28x1xf32>, tensor<5x5x1x6xf32>) -> tensor<?x28x28x6xf32>
  %1 = nn.conv %x, %w {strides = [2, 2], dilations = [1, 1], padding = [2, 1, 2, 1], groups = 1 : i64} : (tensor<?x28x28x1xf32>, tensor<5x5x1x6xf32>) -> tensor<?x14x14x6xf32>
  %2 = nn.conv_grad_kernel %x, %0 {strides = [1, 1], dilations = [1, 1], padding = [2, 2, 2, 2], groups = 1 : i64, kernel_spatial = [5, 5]} : (tensor<?x28x28x1xf32>, tensor<?x28x28x6xf32>) -> tensor<5x5x1x6xf32>
  return %0, %1, %2 : tensor<?x28x28x6xf32>, tensor<?x14x14x6xf32>, tensor<5x5x1x6xf32>
}

// -----

// 1x1, stride 1, unpadded: a matmul, no scratch.
// CHECK-LABEL: func.func @pointwise
// CHECK: nn.conv {{.*}}algorithm = "pointwise"
// CHECK-NOT: nn.workspace_bytes
func.func @pointwise(%x: tensor<?x8x8x8xf32>, %w: tensor<1x1x8x16xf32>) -> tensor<?x8x8x16xf32> {
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [0, 0, 0, 0], groups = 1 : i64} : (tensor<?x8x8x8xf32>, tensor<1x1x8x16xf32>) -> tensor<?x8x8x16xf32>
  return %0 : tensor<?x8x8x16xf32>
}

// -----

// Depthwise (one input channel per group) and patches shorter than 4 go direct.
// CHECK-LABEL: func.func @direct
// CHECK: nn.conv {{.*}}algorithm = "direct"
// CHECK: nn.conv {{.*}}algorithm = "direct"
// CHECK-NOT: nn.workspace_bytes
func.func @direct(%x: tensor<?x8x8x8xf32>, %w: tensor<3x3x1x8xf32>, %y: tensor<?x9x1xf32>, %v: tensor<2x1x4xf32>) -> (tensor<?x8x8x8xf32>, tensor<?x8x4xf32>) {
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 8 : i64} : (tensor<?x8x8x8xf32>, tensor<3x3x1x8xf32>) -> tensor<?x8x8x8xf32>
  %1 = nn.conv %y, %v {strides = [1], dilations = [1], padding = [0, 0], groups = 1 : i64} : (tensor<?x9x1xf32>, tensor<2x1x4xf32>) -> tensor<?x8x4xf32>
  return %0, %1 : tensor<?x8x8x8xf32>, tensor<?x8x4xf32>
}

// -----

// A fused convolution: the algorithm stays on the conv, the scratch goes on the kernel that
// runs (the nn.fused). The backward ops get theirs: col2im over the input gradient (8x8
// positions x 3*3*8 columns) and im2col for the kernel gradient.
// CHECK-LABEL: func.func @fused_and_backward
// CHECK: nn.fused{{.*}}{nn.workspace_bytes = 18432 : i64}
// CHECK: nn.conv {{.*}}algorithm = "im2col"
// CHECK-NOT: nn.workspace_bytes
// CHECK: nn.yield
// CHECK: nn.conv_transpose {{.*}}algorithm = "col2im"{{.*}}nn.workspace_bytes = 18432 : i64
// CHECK: nn.conv_grad_kernel {{.*}}algorithm = "im2col"{{.*}}nn.workspace_bytes = 18432 : i64
func.func @fused_and_backward(%x: tensor<?x8x8x8xf32>, %w: tensor<3x3x8x16xf32>, %b: tensor<16xf32>, %dy: tensor<?x8x8x16xf32>) -> (tensor<?x8x8x16xf32>, tensor<?x8x8x8xf32>, tensor<3x3x8x16xf32>) {
  %0 = nn.fused (%x, %w, %b) : (tensor<?x8x8x8xf32>, tensor<3x3x8x16xf32>, tensor<16xf32>) -> tensor<?x8x8x16xf32> {
  ^bb0(%a: tensor<?x8x8x8xf32>, %k: tensor<3x3x8x16xf32>, %c: tensor<16xf32>):
    %1 = nn.conv %a, %k {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64} : (tensor<?x8x8x8xf32>, tensor<3x3x8x16xf32>) -> tensor<?x8x8x16xf32>
    %2 = nn.bias_add %1, %c : (tensor<?x8x8x16xf32>, tensor<16xf32>) -> tensor<?x8x8x16xf32>
    nn.yield %2 : tensor<?x8x8x16xf32>
  }
  %3 = nn.conv_transpose %dy, %w {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64} : (tensor<?x8x8x16xf32>, tensor<3x3x8x16xf32>) -> tensor<?x8x8x8xf32>
  %4 = nn.conv_grad_kernel %x, %dy {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64, kernel_spatial = [3, 3]} : (tensor<?x8x8x8xf32>, tensor<?x8x8x16xf32>) -> tensor<3x3x8x16xf32>
  return %0, %3, %4 : tensor<?x8x8x16xf32>, tensor<?x8x8x8xf32>, tensor<3x3x8x16xf32>
}
