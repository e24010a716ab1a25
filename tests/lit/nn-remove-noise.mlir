// RUN: kerasc-opt %s -nn-remove-noise | FileCheck %s

// Dropout and friends disappear; their users read the input directly.
// CHECK-LABEL: func.func @noise
// CHECK-NOT: nn.noise
// CHECK: %[[A:.*]] = nn.activation %arg0 {fn = "relu"}
// CHECK: return %[[A]]
func.func @noise(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = nn.noise %x {layer_class = "Dropout", rate = 5.000000e-01 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = nn.noise %0 {layer_class = "GaussianNoise", rate = 1.000000e-01 : f64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %2 = nn.activation %1 {fn = "relu"} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %3 = nn.noise %2 {layer_class = "ActivityRegularization"} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %3 : tensor<?x4xf32>
}
