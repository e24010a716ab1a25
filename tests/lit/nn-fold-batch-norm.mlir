// RUN: kerasc-opt %s -split-input-file -nn-fold-batch-norm | FileCheck %s

// Dense (matmul + bias_add) followed by an inference-mode BatchNormalization: one matmul with
// the folded kernel and one bias_add with the folded bias; the unfolded weights are gone.
// CHECK-LABEL: func.func @dense_bias
// CHECK-DAG: %[[K:.*]] = nn.weight "dense/kernel.folded_bn" {nn.trainable = false} : tensor<4x3xf32>
// CHECK-DAG: %[[B:.*]] = nn.weight "dense/bias.folded_bn" {nn.trainable = false} : tensor<3xf32>
// CHECK: %[[M:.*]] = nn.matmul %arg0, %[[K]]
// CHECK: %[[Y:.*]] = nn.bias_add %[[M]], %[[B]]
// CHECK-NOT: nn.batch_norm
// CHECK-NOT: "dense/kernel"
// CHECK-NOT: "bn/gamma"
// CHECK: return %[[Y]]
func.func @dense_bias(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %k = nn.weight "dense/kernel" : tensor<4x3xf32>
  %b = nn.weight "dense/bias" : tensor<3xf32>
  %g = nn.weight "bn/gamma" : tensor<3xf32>
  %be = nn.weight "bn/beta" : tensor<3xf32>
  %m = nn.weight "bn/moving_mean" : tensor<3xf32>
  %v = nn.weight "bn/moving_variance" : tensor<3xf32>
  %0 = nn.matmul %x, %k : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %2 = nn.batch_norm %1, %g, %be, %m, %v {axis = 1 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %2 : tensor<?x3xf32>
}

// -----

// A convolution without bias: the bias is new and named after the BatchNormalization.
// CHECK-LABEL: func.func @conv_no_bias
// CHECK-DAG: %[[K:.*]] = nn.weight "conv/kernel.folded_bn" {nn.trainable = false} : tensor<3x3x2x4xf32>
// CHECK-DAG: %[[B:.*]] = nn.weight "bn/folded_bias" {nn.trainable = false} : tensor<4xf32>
// CHECK: %[[C:.*]] = nn.conv %arg0, %[[K]] {dilations = [1, 1], groups = 1 : i64, padding = [1, 1, 1, 1], strides = [1, 1]}
// CHECK: %[[Y:.*]] = nn.bias_add %[[C]], %[[B]]
// CHECK: nn.activation %[[Y]] {fn = "relu"}
// CHECK-NOT: nn.batch_norm
func.func @conv_no_bias(%x: tensor<?x5x5x2xf32>) -> tensor<?x5x5x4xf32> {
  %k = nn.weight "conv/kernel" : tensor<3x3x2x4xf32>
  %g = nn.weight "bn/gamma" : tensor<4xf32>
  %be = nn.weight "bn/beta" : tensor<4xf32>
  %m = nn.weight "bn/moving_mean" : tensor<4xf32>
  %v = nn.weight "bn/moving_variance" : tensor<4xf32>
  %0 = nn.conv %x, %k {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64} : (tensor<?x5x5x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x5x5x4xf32>
  %1 = nn.batch_norm %0, %g, %be, %m, %v {axis = 3 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x5x5x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x5x5x4xf32>
  %2 = nn.activation %1 {fn = "relu"} : (tensor<?x5x5x4xf32>) -> tensor<?x5x5x4xf32>
  return %2 : tensor<?x5x5x4xf32>
}

// -----

// Not folded: the matmul's result has a second use (folding would change it there).
// CHECK-LABEL: func.func @shared_input
// CHECK: nn.weight "dense/kernel" :
// CHECK: nn.batch_norm
// CHECK-NOT: folded
func.func @shared_input(%x: tensor<?x4xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>) {
  %k = nn.weight "dense/kernel" : tensor<4x3xf32>
  %g = nn.weight "bn/gamma" : tensor<3xf32>
  %be = nn.weight "bn/beta" : tensor<3xf32>
  %m = nn.weight "bn/moving_mean" : tensor<3xf32>
  %v = nn.weight "bn/moving_variance" : tensor<3xf32>
  %0 = nn.matmul %x, %k : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %1 = nn.batch_norm %0, %g, %be, %m, %v {axis = 1 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0, %1 : tensor<?x3xf32>, tensor<?x3xf32>
}

// -----

// Not folded: normalized over axis 1 of a 3-D matmul output (not its output channels), and
// after an activation.
// CHECK-LABEL: func.func @not_per_channel
// CHECK-COUNT-2: nn.batch_norm
// CHECK-NOT: folded
func.func @not_per_channel(%x: tensor<?x2x4xf32>) -> (tensor<?x2x3xf32>, tensor<?x2x3xf32>) {
  %k = nn.weight "dense/kernel" : tensor<4x3xf32>
  %g = nn.weight "bn/gamma" : tensor<2x1xf32>
  %be = nn.weight "bn/beta" : tensor<2x1xf32>
  %m = nn.weight "bn/moving_mean" : tensor<2x1xf32>
  %v = nn.weight "bn/moving_variance" : tensor<2x1xf32>
  %g2 = nn.weight "bn2/gamma" : tensor<3xf32>
  %0 = nn.matmul %x, %k : (tensor<?x2x4xf32>, tensor<4x3xf32>) -> tensor<?x2x3xf32>
  %1 = nn.batch_norm %0, %g, %be, %m, %v {axis = 1 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x2x3xf32>, tensor<2x1xf32>, tensor<2x1xf32>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<?x2x3xf32>
  %2 = nn.activation %1 {fn = "tanh"} : (tensor<?x2x3xf32>) -> tensor<?x2x3xf32>
  %3 = nn.batch_norm %2, %g2, %g2, %g2, %g2 {axis = 2 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x2x3xf32>
  return %1, %3 : tensor<?x2x3xf32>, tensor<?x2x3xf32>
}

// -----

// Training steps are left alone: their statistics change.
// CHECK-LABEL: func.func @training
// CHECK: nn.batch_norm
// CHECK-NOT: folded
func.func @training(%x: tensor<?x4xf32>) -> tensor<?x3xf32> attributes {nn.training} {
  %k = nn.weight "dense/kernel" : tensor<4x3xf32>
  %g = nn.weight "bn/gamma" : tensor<3xf32>
  %0 = nn.matmul %x, %k : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %1 = nn.batch_norm %0, %g, %g, %g, %g {axis = 1 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %1 : tensor<?x3xf32>
}

// -----

// channels_first: the convolution runs between transposes; BatchNormalization(axis=1) reads
// the transpose back to channels_first. It moves before that transpose (over the last axis,
// the same weights typed [C]) and folds into the convolution.
// CHECK-LABEL: func.func @channels_first
// CHECK-DAG: %[[K:.*]] = nn.weight "conv/kernel.folded_bn" {nn.trainable = false} : tensor<3x3x2x4xf32>
// CHECK-DAG: %[[B:.*]] = nn.weight "conv/bias.folded_bn" {nn.trainable = false} : tensor<4xf32>
// CHECK: %[[C:.*]] = nn.conv %{{.*}}, %[[K]]
// CHECK: %[[Y:.*]] = nn.bias_add %[[C]], %[[B]]
// CHECK: %[[T:.*]] = nn.transpose %[[Y]] {perm = [0, 3, 1, 2]}
// CHECK-NOT: nn.batch_norm
// CHECK: return %[[T]]
func.func @channels_first(%x: tensor<?x2x5x5xf32>) -> tensor<?x4x5x5xf32> {
  %k = nn.weight "conv/kernel" : tensor<3x3x2x4xf32>
  %b = nn.weight "conv/bias" : tensor<4xf32>
  %g = nn.weight "bn/gamma" : tensor<4x1x1xf32>
  %be = nn.weight "bn/beta" : tensor<4x1x1xf32>
  %m = nn.weight "bn/moving_mean" : tensor<4x1x1xf32>
  %v = nn.weight "bn/moving_variance" : tensor<4x1x1xf32>
  %0 = nn.transpose %x {perm = [0, 2, 3, 1]} : (tensor<?x2x5x5xf32>) -> tensor<?x5x5x2xf32>
  %1 = nn.conv %0, %k {strides = [1, 1], dilations = [1, 1], padding = [1, 1, 1, 1], groups = 1 : i64} : (tensor<?x5x5x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x5x5x4xf32>
  %2 = nn.bias_add %1, %b : (tensor<?x5x5x4xf32>, tensor<4xf32>) -> tensor<?x5x5x4xf32>
  %3 = nn.transpose %2 {perm = [0, 3, 1, 2]} : (tensor<?x5x5x4xf32>) -> tensor<?x4x5x5xf32>
  %4 = nn.batch_norm %3, %g, %be, %m, %v {axis = 1 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x4x5x5xf32>, tensor<4x1x1xf32>, tensor<4x1x1xf32>, tensor<4x1x1xf32>, tensor<4x1x1xf32>) -> tensor<?x4x5x5xf32>
  return %4 : tensor<?x4x5x5xf32>
}
