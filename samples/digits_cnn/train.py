#!/usr/bin/env python3
"""The CNN sample: build a small convolutional net for scikit-learn's 8x8 digits, save it
untrained, and record what Keras reaches with the training recipe the kerasc test repeats.

Uses the train/test split bundled in samples/digits (same .npy files, nothing downloaded).
Run from the repository root with the fixtures venv:

    KERAS_BACKEND=jax .venv-fixtures/bin/python samples/digits_cnn/train.py

Writes, next to this script:
  digits_cnn.keras     the compiled, UNTRAINED model (seed 42): what `kerasc compile` reads
  keras_result.json    the recipe and Keras's test accuracy after training the saved model
                       with it (loaded back from digits_cnn.keras, so both start from the same
                       weights), plus the accuracy over a few other shuffle seeds to show how
                       much the shuffle order alone moves it
"""

import sys
sys.dont_write_bytecode = True

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "digits")
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from generate import canonicalize_keras_zip  # noqa: E402  (reproducible .keras bytes)

SEED = 42
EPOCHS = 15
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SPREAD_SEEDS = [1, 2, 3, 4]  # other shuffle orders, for the spread (informative)


def build_model():
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(64,), name="pixels"),
            L.Reshape((8, 8, 1), name="image"),
            L.Conv2D(16, 3, activation="relu", padding="same", name="conv1"),  # 8x8x16
            L.MaxPooling2D(2, name="pool"),                                    # 4x4x16
            L.Conv2D(32, 3, activation="relu", name="conv2"),                  # 2x2x32
            L.Flatten(name="flatten"),                                         # 128
            L.Dense(10, activation="softmax", name="probs"),
        ],
        name="digits_cnn",
    )


def load(name):
    return np.load(os.path.join(DATA, name))


def train_and_evaluate(path, shuffle_seed):
    """The recipe: Adam(1e-3), sparse categorical cross-entropy, EPOCHS epochs of batch
    BATCH_SIZE, shuffled each epoch, no validation split; then evaluate on the test split."""
    model = keras.models.load_model(path)
    keras.utils.set_random_seed(shuffle_seed)
    model.fit(load("train_x.npy"), load("train_y.npy"), epochs=EPOCHS, batch_size=BATCH_SIZE,
              shuffle=True, verbose=0)
    loss, acc = model.evaluate(load("test_x.npy"), load("test_y.npy"), verbose=0)
    return float(loss), float(acc)


def main():
    assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
    keras.utils.set_random_seed(SEED)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = os.path.join(HERE, "digits_cnn.keras")
    model.save(path)
    canonicalize_keras_zip(path)
    _, untrained_acc = model.evaluate(load("test_x.npy"), load("test_y.npy"), verbose=0)

    loss, acc = train_and_evaluate(path, SEED)
    spread = {str(s): train_and_evaluate(path, s)[1] for s in SPREAD_SEEDS}
    result = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "model": "digits_cnn.keras (untrained, compiled: Adam(1e-3), "
                 "sparse_categorical_crossentropy, metrics ['accuracy'])",
        "params": int(model.count_params()),
        "data": {"train_x": "samples/digits/train_x.npy", "train_y": "samples/digits/train_y.npy",
                 "test_x": "samples/digits/test_x.npy", "test_y": "samples/digits/test_y.npy"},
        "recipe": {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "optimizer": "adam",
                   "learning_rate": LEARNING_RATE, "shuffle": True, "validation_split": 0.0,
                   "seed": SEED},
        "keras_call": (f"keras.utils.set_random_seed({SEED}); model.fit(train_x, train_y, "
                       f"epochs={EPOCHS}, batch_size={BATCH_SIZE}, shuffle=True); "
                       "model.evaluate(test_x, test_y)"),
        "untrained_test_accuracy": float(untrained_acc),
        "test_loss": loss,
        "test_accuracy": acc,
        "test_accuracy_other_shuffle_seeds": spread,
        "tolerance_note": ("kerasc's fit shuffles with its own RNG, so its model differs from "
                           "Keras's; the sample's test requires its test accuracy within 0.02 "
                           "(7 of 360 test images) of test_accuracy"),
    }
    with open(os.path.join(HERE, "keras_result.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"keras {keras.__version__}: params {model.count_params()}, untrained accuracy "
          f"{untrained_acc:.4f}, trained test accuracy {acc:.4f} (loss {loss:.4f}); other "
          f"seeds {spread}")


if __name__ == "__main__":
    main()
