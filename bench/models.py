"""The benchmark's models: one table, the Keras builder, and the exported files every system reads.

The table (MODELS) is the only place a model is described. Each peer translates the neutral layer
list itself (peers.py), so adding a model here is enough for every system that understands its
layers; a peer that does not says so and is skipped for that model.

`python models.py --out DIR [--models a,b]` builds each model with Keras (seeded), compiles it
(Adam(1e-3) + its loss, so kerasc emits fit/train) and writes into DIR:
  NAME.keras          the model kerasc compiles and Keras reloads
  NAME.weights.npz    the weights in layer order (w0 = first kernel, w1 = first bias, ...;
                      BatchNormalization: gamma, beta, moving mean, moving variance), so
                      PyTorch / ONNX Runtime / OpenBLAS workers never import Keras
  NAME.x.npy          a seeded reference input (REFERENCE_SAMPLES rows)
  NAME.y.npy          Keras's model.predict on it: the oracle every system is checked against
  NAME.json           the table row and a fingerprint of this file, to rebuild when it changes
Keras is imported only inside the builder, so importing this module is cheap.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from typing import List, Optional, Tuple

import numpy as np

SEED = 0
REFERENCE_SAMPLES = 64
ADAM_LEARNING_RATE = 1e-3


@dataclasses.dataclass(frozen=True)
class Dense:
    units: int
    activation: str  # a Keras activation name: relu, softmax, linear


# CNN layers (channels_last, as Keras's default data_format). Each peer translates them itself:
# PyTorch and ONNX Runtime compute in NCHW, so they transpose the NHWC input once at the start
# and back before a Flatten (Keras flattens H, W, C in that order).
@dataclasses.dataclass(frozen=True)
class Conv2D:
    filters: int
    kernel: int  # square kernel, stride 1
    activation: str  # relu or linear
    padding: str  # "same" or "valid"


@dataclasses.dataclass(frozen=True)
class MaxPool2D:
    pool: int  # square window, strides = pool, valid padding (Keras's defaults)


@dataclasses.dataclass(frozen=True)
class BatchNorm:
    epsilon: float = 1e-3  # Keras's defaults
    momentum: float = 0.99


@dataclasses.dataclass(frozen=True)
class Activation:
    name: str  # relu


@dataclasses.dataclass(frozen=True)
class Dropout:
    rate: float  # identity at inference; random masks in training


@dataclasses.dataclass(frozen=True)
class Flatten:
    pass


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool2D:
    pass


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: Tuple[int, ...]
    layers: Tuple[object, ...]  # Dense and the CNN layers above
    loss: str  # Keras loss name
    train_samples: int  # samples per training epoch in a full run (--quick uses a quarter)
    # Batch sizes measured (None: the driver's defaults, infer 1/32/256 and train 32/128).
    infer_batches: Optional[Tuple[int, ...]] = None
    train_batches: Optional[Tuple[int, ...]] = None

    @property
    def output_size(self) -> int:
        return self.layers[-1].units


# The model table. Later issues append their CNN / RNN rows here (and teach peers.py their layers).
MODELS = {m.name: m for m in [
    ModelSpec("mlp_784_128_10", (784,), (Dense(128, "relu"), Dense(10, "softmax")),
              "sparse_categorical_crossentropy", train_samples=8192),
    ModelSpec("mlp_784_512_512_10", (784,),
              (Dense(512, "relu"), Dense(512, "relu"), Dense(10, "softmax")),
              "sparse_categorical_crossentropy", train_samples=8192),
    ModelSpec("regression_13_64_64_1", (13,),
              (Dense(64, "relu"), Dense(64, "relu"), Dense(1, "linear")),
              "mse", train_samples=16384),
    # CNNs. Per sample, lenet is ~0.8 MFLOP forward and cifar_cnn ~30 MFLOP (~90 to train), so
    # cifar_cnn measures infer_b1/b32 and train_b32 only, on short epochs: on 2 cores PyTorch
    # trains it at ~20-50 samples/s, and each training figure is 6 epochs (1 warm-up).
    ModelSpec("lenet", (28, 28, 1),
              (Conv2D(6, 5, "relu", "same"), MaxPool2D(2), Conv2D(16, 5, "relu", "valid"),
               MaxPool2D(2), Flatten(), Dense(120, "relu"), Dense(84, "relu"),
               Dense(10, "softmax")),
              "sparse_categorical_crossentropy", train_samples=8192),
    ModelSpec("cifar_cnn", (32, 32, 3),
              (Conv2D(32, 3, "linear", "same"), BatchNorm(), Activation("relu"),
               Conv2D(32, 3, "linear", "same"), BatchNorm(), Activation("relu"), MaxPool2D(2),
               Dropout(0.25), Conv2D(64, 3, "linear", "same"), BatchNorm(), Activation("relu"),
               MaxPool2D(2), Dropout(0.25), GlobalAvgPool2D(), Dense(10, "softmax")),
              "sparse_categorical_crossentropy", train_samples=1024, infer_batches=(1, 32),
              train_batches=(32,)),
]}


def layer_shapes(spec: ModelSpec) -> List[Tuple[int, ...]]:
    """The input shape (without the batch) of every layer, then the model's output shape."""
    shapes = [tuple(spec.input_shape)]
    for layer in spec.layers:
        shape = shapes[-1]
        if isinstance(layer, Dense):
            shape = shape[:-1] + (layer.units,)
        elif isinstance(layer, Conv2D):
            h, w, _ = shape
            if layer.padding == "valid":
                h, w = h - layer.kernel + 1, w - layer.kernel + 1
            shape = (h, w, layer.filters)
        elif isinstance(layer, MaxPool2D):
            shape = (shape[0] // layer.pool, shape[1] // layer.pool, shape[2])
        elif isinstance(layer, Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, GlobalAvgPool2D):
            shape = (shape[-1],)
        elif not isinstance(layer, (BatchNorm, Activation, Dropout)):
            raise NotImplementedError(f"layer_shapes: {type(layer).__name__}")
        shapes.append(shape)
    return shapes


def gemm_shapes(spec: ModelSpec, batch: int) -> List[Tuple[int, int, int]]:
    """(M, K, N) of every matrix product one inference of `batch` samples performs. A
    convolution counts as its im2col product: (batch * output pixels, K*K*Cin, filters), the
    multiply-adds a direct convolution does too (zero padding included)."""
    shapes = []
    for layer, before, after in zip(spec.layers, layer_shapes(spec), layer_shapes(spec)[1:]):
        if isinstance(layer, Dense):
            shapes.append((batch * int(np.prod(before[:-1])), before[-1], layer.units))
        elif isinstance(layer, Conv2D):
            shapes.append((batch * after[0] * after[1], layer.kernel ** 2 * before[-1],
                           layer.filters))
    return shapes


def gemm_flops(spec: ModelSpec, batch: int) -> int:
    """Multiply-adds counted as 2 FLOPs, over the model's matrix products and convolutions
    only (pooling, normalization and activations are not counted)."""
    return sum(2 * m * k * n for m, k, n in gemm_shapes(spec, batch))


def synthetic_data(spec: ModelSpec, samples: int, seed: int = SEED):
    """Training data of the right kind for the loss: uniform [0, 1) features (as the kerasc
    program's own bench uses); class ids for sparse categorical crossentropy, uniform targets
    otherwise."""
    rng = np.random.default_rng(seed)
    x = rng.random((samples,) + tuple(spec.input_shape), dtype=np.float32)
    if spec.loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, spec.output_size, size=(samples,)).astype(np.int64)
    else:
        y = rng.random((samples, spec.output_size), dtype=np.float32)
    return x, y


def reference_input(spec: ModelSpec) -> np.ndarray:
    rng = np.random.default_rng(SEED + 1)
    return rng.random((REFERENCE_SAMPLES,) + tuple(spec.input_shape), dtype=np.float32)


def spec_fingerprint() -> str:
    """Changes whenever this file does, so exported models are rebuilt after an edit."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def build_keras_model(spec: ModelSpec, seed: int = SEED):
    """The Keras model of a table row, seeded and compiled (Adam(1e-3) and the row's loss)."""
    import keras  # imported here: only the Keras side and the exporter need it
    keras.utils.set_random_seed(seed)
    L = keras.layers
    layers = [keras.Input(shape=spec.input_shape, name="input")]
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Dense):
            layers.append(L.Dense(layer.units, activation=layer.activation, name=f"dense_{i}"))
        elif isinstance(layer, Conv2D):
            layers.append(L.Conv2D(layer.filters, layer.kernel, activation=layer.activation,
                                   padding=layer.padding, name=f"conv_{i}"))
        elif isinstance(layer, MaxPool2D):
            layers.append(L.MaxPooling2D(layer.pool, name=f"pool_{i}"))
        elif isinstance(layer, BatchNorm):
            layers.append(L.BatchNormalization(epsilon=layer.epsilon, momentum=layer.momentum,
                                               name=f"bn_{i}"))
        elif isinstance(layer, Activation):
            layers.append(L.Activation(layer.name, name=f"act_{i}"))
        elif isinstance(layer, Dropout):
            layers.append(L.Dropout(layer.rate, name=f"dropout_{i}"))
        elif isinstance(layer, Flatten):
            layers.append(L.Flatten(name=f"flatten_{i}"))
        elif isinstance(layer, GlobalAvgPool2D):
            layers.append(L.GlobalAveragePooling2D(name=f"gap_{i}"))
        else:
            raise NotImplementedError(f"build_keras_model: {type(layer).__name__}")
    model = keras.Sequential(layers, name=spec.name)
    # Trained-looking BatchNormalization state (Keras starts at mean 0, variance 1, gamma 1,
    # beta 0), so inference really normalizes and every peer must carry the statistics over.
    rng = np.random.default_rng(seed + 7)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = int(layer.moving_mean.shape[0])
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype(np.float32))
            layer.beta.assign(rng.uniform(-0.2, 0.2, c).astype(np.float32))
            layer.moving_mean.assign(rng.uniform(-0.3, 0.3, c).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype(np.float32))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=ADAM_LEARNING_RATE),
                  loss=spec.loss)
    return model


def paths(directory: str, name: str) -> dict:
    return {kind: os.path.join(directory, name + suffix) for kind, suffix in [
        ("keras", ".keras"), ("weights", ".weights.npz"), ("x", ".x.npy"), ("y", ".y.npy"),
        ("meta", ".json")]}


def is_exported(directory: str, name: str) -> bool:
    p = paths(directory, name)
    if not all(os.path.exists(f) for f in p.values()):
        return False
    with open(p["meta"]) as f:
        return json.load(f).get("fingerprint") == spec_fingerprint()


def export(spec: ModelSpec, directory: str) -> None:
    model = build_keras_model(spec)
    p = paths(directory, spec.name)
    model.save(p["keras"])
    np.savez(p["weights"], **{f"w{i}": np.asarray(w, dtype=np.float32)
                              for i, w in enumerate(model.get_weights())})
    x = reference_input(spec)
    np.save(p["x"], x)
    np.save(p["y"], np.asarray(model.predict(x, verbose=0), dtype=np.float32))
    with open(p["meta"], "w") as f:
        json.dump({"fingerprint": spec_fingerprint(), "spec": dataclasses.asdict(spec)}, f,
                  indent=1)


def load_weights(directory: str, name: str) -> List[np.ndarray]:
    with np.load(paths(directory, name)["weights"]) as z:
        return [z[f"w{i}"] for i in range(len(z.files))]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        if is_exported(args.out, name):
            continue
        print(f"models: building {name} with Keras", file=sys.stderr)
        export(MODELS[name], args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.exit(main())
