// RUN: kerasc-opt %s -split-input-file -verify-diagnostics

func.func @unknown_activation(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{unknown activation function 'mish'}}
  %0 = nn.activation %x {fn = "mish"} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @bad_bias(%x: tensor<?x4xf32>, %b: tensor<5xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{bias of shape [5] does not match the last axis of [?, 4]}}
  %0 = nn.bias_add %x, %b : (tensor<?x4xf32>, tensor<5xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @bad_broadcast(%x: tensor<?x4xf32>, %y: tensor<?x3xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{operand shapes [?, 4] and [?, 3] do not broadcast}}
  %0 = nn.binary %x, %y {fn = "add"} : (tensor<?x4xf32>, tensor<?x3xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @bad_reshape(%x: tensor<?x4xf32>) -> tensor<?x5xf32> {
  // expected-error @+1 {{cannot reshape [?, 4] (4 elements per sample) into [5] (5)}}
  %0 = nn.reshape %x {shape = [5]} : (tensor<?x4xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// -----

func.func @bad_perm(%x: tensor<?x2x3xf32>) -> tensor<?x2x3xf32> {
  // expected-error @+1 {{is not a permutation of rank 3 that keeps the batch axis first}}
  %0 = nn.transpose %x {perm = [1, 0, 2]} : (tensor<?x2x3xf32>) -> tensor<?x2x3xf32>
  return %0 : tensor<?x2x3xf32>
}

// -----

func.func @bad_concat(%x: tensor<?x2x3xf32>, %y: tensor<?x3x3xf32>) -> tensor<?x2x6xf32> {
  // expected-error @+1 {{differ outside the concatenation axis 2}}
  %0 = nn.concat %x, %y {axis = 2 : i64} : (tensor<?x2x3xf32>, tensor<?x3x3xf32>) -> tensor<?x2x6xf32>
  return %0 : tensor<?x2x6xf32>
}

// -----

func.func @bad_softmax_axis(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{axis 0 is out of range [1, 2)}}
  %0 = nn.softmax %x {axis = 0 : i64, log = false} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @dynamic_weight() -> tensor<?x4xf32> {
  // expected-error @+1 {{weights must have a static shape}}
  %0 = nn.weight "w" : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @bad_fused(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{yielded type must match the result type}}
  %0 = nn.fused (%x) : (tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%t: tensor<?x4xf32>):
    %r = nn.reshape %t {shape = [2, 2]} : (tensor<?x4xf32>) -> tensor<?x2x2xf32>
    nn.yield %r : tensor<?x2x2xf32>
  }
  return %0 : tensor<?x4xf32>
}

// -----

func.func @bad_repeat(%x: tensor<?x4xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{times must be positive}}
  %0 = nn.repeat %x {times = -1 : i64} : (tensor<?x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @negative_axis(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{axis -1 is out of range [1, 2)}}
  %0 = nn.softmax %x {axis = -1 : i64, log = false} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @conv_channels(%x: tensor<?x8x8x3xf32>, %w: tensor<3x3x4x8xf32>) -> tensor<?x6x6x8xf32> {
  // expected-error @+1 {{kernel [3, 3, 4, 8] expects 4 input channels, the input has 3}}
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [0, 0, 0, 0], groups = 1 : i64} : (tensor<?x8x8x3xf32>, tensor<3x3x4x8xf32>) -> tensor<?x6x6x8xf32>
  return %0 : tensor<?x6x6x8xf32>
}

// -----

func.func @conv_shape(%x: tensor<?x8x8x3xf32>, %w: tensor<3x3x3x8xf32>) -> tensor<?x8x8x8xf32> {
  // expected-error @+1 {{result shape [?, 8, 8, 8] disagrees with the inferred shape [?, 6, 6, 8]}}
  %0 = nn.conv %x, %w {strides = [1, 1], dilations = [1, 1], padding = [0, 0, 0, 0], groups = 1 : i64} : (tensor<?x8x8x3xf32>, tensor<3x3x3x8xf32>) -> tensor<?x8x8x8xf32>
  return %0 : tensor<?x8x8x8xf32>
}

// -----

func.func @pool_kind(%x: tensor<?x8x8x3xf32>) -> tensor<?x4x4x3xf32> {
  // expected-error @+1 {{kind must be "max" or "avg", got "sum"}}
  %0 = nn.pool %x {kind = "sum", window = [2, 2], strides = [2, 2], padding = [0, 0, 0, 0]} : (tensor<?x8x8x3xf32>) -> tensor<?x4x4x3xf32>
  return %0 : tensor<?x4x4x3xf32>
}

// -----

func.func @crop_too_much(%x: tensor<?x4x3xf32>) -> tensor<?x4x3xf32> {
  // expected-error @+1 {{cropping leaves nothing of axis 1 (size 4)}}
  %0 = nn.pad %x {pads = [-2, -2, 0, 0]} : (tensor<?x4x3xf32>) -> tensor<?x4x3xf32>
  return %0 : tensor<?x4x3xf32>
}

// -----

func.func @bn_param(%x: tensor<?x4x3xf32>, %g: tensor<4xf32>) -> tensor<?x4x3xf32> {
  // expected-error @+1 {{gamma of shape [4] does not broadcast to the input shape [?, 4, 3]}}
  %0 = nn.batch_norm %x, %g, %g, %g, %g {axis = 2 : i64, epsilon = 1.0e-03 : f64} : (tensor<?x4x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x3xf32>
  return %0 : tensor<?x4x3xf32>
}
