//===- NNInterfaces.td - op interfaces of the nn dialect -----------------------------------===//
#ifndef KERASC_NN_INTERFACES
#define KERASC_NN_INTERFACES

include "mlir/IR/OpBase.td"

def NN_InferShapeOpInterface : OpInterface<"InferShapeOpInterface"> {
  let description = [{
    Ops whose result type follows from their operand types and attributes. The same function
    serves shape inference (refining unranked results) and verification (a ranked result must
    equal the inferred type), so the two can never disagree.
  }];
  let cppNamespace = "::kerasc::nn";
  let methods = [
    InterfaceMethod<[{
        Computes the result type from the operand types and attributes. Returns failure (after
        emitting an error on the op) when the operands are inconsistent; returns an unranked
        tensor type when some operand is still unranked.
      }],
      "::mlir::FailureOr<::mlir::TensorType>", "inferResultType", (ins)>
  ];
  let verify = [{ return ::kerasc::nn::verifyInferredResultType($_op); }];
}

#endif // KERASC_NN_INTERFACES
