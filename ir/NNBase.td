//===- NNBase.td - the nn dialect and its shape-inference interface ------------------------===//
//
// The `nn` dialect models a Keras model as a graph of tensor ops with static shapes except for
// the leading batch dimension, which is always dynamic (`?`). Weights are not stored in the IR:
// `nn.weight` names an entry of the side weight store, so the textual IR stays small and readable.
//
//===----------------------------------------------------------------------------------------===//
#ifndef KERASC_NN_BASE
#define KERASC_NN_BASE

include "mlir/IR/OpBase.td"
include "ir/NNInterfaces.td"

def NN_Dialect : Dialect {
  let name = "nn";
  let summary = "Graph-level neural-network ops for Keras models";
  let description = [{
    Ops operate on `tensor<?x...xf32>` activations (dynamic batch, static rest) and on
    statically shaped weights produced by `nn.weight`. Before shape inference, results may be
    unranked (`tensor<*xf32>`); the `nn-infer-shapes` pass refines them.
  }];
  let cppNamespace = "::kerasc::nn";
  let emitAccessorPrefix = kEmitAccessorPrefix_Prefixed;
}

// Activations are f32 tensors; before shape inference they may be unranked.
def NN_Tensor : TensorOf<[F32]>;

class NN_Op<string mnemonic, list<Trait> traits = []> :
    Op<NN_Dialect, mnemonic, traits>;

#endif // KERASC_NN_BASE
