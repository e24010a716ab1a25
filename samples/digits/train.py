#!/usr/bin/env python3
"""Train the bundled sample model: a small MLP on scikit-learn's digits data set.

The data ships inside scikit-learn (sklearn.datasets.load_digits), so nothing is
downloaded. Run from the repository root with the fixtures venv:

    KERAS_BACKEND=jax .venv-fixtures/bin/python samples/digits/train.py

Writes, next to this script:
  digits_mlp.keras              the trained Keras 3 model
  train_x.npy / train_y.npy     float32 (N, 64) in [0, 1] / int32 (N,) labels 0..9
  test_x.npy  / test_y.npy      same, held-out 20 % (stratified)
  keras_test_predictions.npy    float32 (N_test, 10) softmax outputs of Keras on test_x
  keras_test_accuracy.txt       Keras's test accuracy, one decimal number on one line
"""

import sys
sys.dont_write_bytecode = True

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 42
EPOCHS = 40
BATCH_SIZE = 32


def build_model():
    return keras.Sequential(
        [
            keras.Input(shape=(64,), name="pixels"),
            keras.layers.Dense(32, activation="relu", name="hidden1"),
            keras.layers.Dropout(0.1, name="dropout"),
            keras.layers.Dense(16, activation="relu", name="hidden2"),
            keras.layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="digits_mlp",
    )


def main():
    assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
    keras.utils.set_random_seed(SEED)

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixels are 0..16
    y = digits.target.astype(np.int32)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=SEED)
    train_x = np.ascontiguousarray(train_x, dtype=np.float32)
    test_x = np.ascontiguousarray(test_x, dtype=np.float32)
    train_y = np.ascontiguousarray(train_y, dtype=np.int32)
    test_y = np.ascontiguousarray(test_y, dtype=np.int32)

    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_x, train_y, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=True, verbose=0)

    probs = np.asarray(model.predict(test_x, verbose=0), dtype=np.float32)
    pred = probs.argmax(axis=1)
    correct = int((pred == test_y).sum())
    acc = correct / len(test_y)
    _, eval_acc = model.evaluate(test_x, test_y, verbose=0)
    assert abs(eval_acc - acc) < 1e-6, (eval_acc, acc)

    model_path = os.path.join(HERE, "digits_mlp.keras")
    model.save(model_path)
    reloaded = keras.models.load_model(model_path)
    diff = float(np.max(np.abs(np.asarray(reloaded.predict(test_x, verbose=0)) - probs)))
    assert diff < 1e-6, diff

    np.save(os.path.join(HERE, "train_x.npy"), train_x)
    np.save(os.path.join(HERE, "train_y.npy"), train_y)
    np.save(os.path.join(HERE, "test_x.npy"), test_x)
    np.save(os.path.join(HERE, "test_y.npy"), test_y)
    np.save(os.path.join(HERE, "keras_test_predictions.npy"), probs)
    with open(os.path.join(HERE, "keras_test_accuracy.txt"), "w", newline="\n") as f:
        f.write(f"{acc:.6f}\n")

    print(f"keras {keras.__version__} ({keras.backend.backend()}): train {train_x.shape}, "
          f"test {test_x.shape}; test accuracy {acc:.6f} ({correct}/{len(test_y)})")
    print(f"params: {model.count_params()}")


if __name__ == "__main__":
    main()
