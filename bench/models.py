"""The benchmark's models: one table, the Keras builder, and the exported files every system reads.

The table (MODELS) is the only place a model is described. Each peer translates the neutral layer
list itself (peers.py), so adding a model here is enough for every system that understands its
layers; a peer that does not says so and is skipped for that model.

`python models.py --out DIR [--models a,b]` builds each model with Keras (seeded), compiles it
(Adam(1e-3) + its loss, so kerasc emits fit/train) and writes into DIR:
  NAME.keras          the model kerasc compiles and Keras reloads
  NAME.weights.npz    the weights in layer order (w0 = first kernel, w1 = first bias, ...), so
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


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: Tuple[int, ...]
    layers: Tuple[Dense, ...]
    loss: str  # Keras loss name
    train_samples: int  # samples per training epoch in a full run (--quick uses a quarter)

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
]}


def gemm_shapes(spec: ModelSpec, batch: int) -> List[Tuple[int, int, int]]:
    """(M, K, N) of every matrix product one inference of `batch` samples performs."""
    shapes, width = [], int(np.prod(spec.input_shape))
    for layer in spec.layers:
        if not isinstance(layer, Dense):
            raise NotImplementedError(f"gemm_shapes: no GEMM shape for {type(layer).__name__}")
        shapes.append((batch, width, layer.units))
        width = layer.units
    return shapes


def gemm_flops(spec: ModelSpec, batch: int) -> int:
    """Multiply-adds counted as 2 FLOPs, over the model's matrix products only."""
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
    layers = [keras.Input(shape=spec.input_shape, name="input")]
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Dense):
            layers.append(keras.layers.Dense(layer.units, activation=layer.activation,
                                             name=f"dense_{i}"))
        else:
            raise NotImplementedError(f"build_keras_model: {type(layer).__name__}")
    model = keras.Sequential(layers, name=spec.name)
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
