"""One benchmark worker: measures one peer system on one model in its own process.

The driver starts `python peers.py --system S --model M --phase infer|train ...` once per
system, model and phase, so each process's peak resident set belongs to that system alone and a
peer's imports never weigh on another's. The worker checks its predictions against Keras's (the
exported NAME.y.npy) before timing, then prints one JSON object as its last stdout line:
  {"system", "model", "phase", "verify": {"max_abs_diff", "ok"} | null, "threads",
   "vmhwm_kb", "results": [{"task", "variant", "kind", "batch", "runs", "note"}]}
`kind` says what `runs` holds: "latency_us" (mean microseconds per call of `batch` samples, one
figure per run), "samples_per_s" (one training epoch per run) or "gflops".

Systems: keras (JAX backend on CPU), pytorch (eager), onnxruntime (inference only), openblas
(numpy float32 matmul: the model's GEMM chain at batch 256, and the 2048^3 reference).
"""

import argparse
import copy
import json
import os
import sys
import time

import numpy as np

import models as model_table

AGREEMENT_TOLERANCE = 1e-4  # max abs difference from Keras's predictions
SGEMM_BATCH = 256
SGEMM_REFERENCE = "sgemm_2048"  # the model name of the machine's practical-peak measurement
SGEMM_REFERENCE_SIZE = 2048


def time_calls(fn, runs, min_time):
    """Per-run mean latency (us) of fn(); each run repeats it for at least min_time seconds.
    Calls for half a run first so caches, thread pools and JIT are warm."""
    warm_until = time.perf_counter() + min_time / 2
    fn()
    while time.perf_counter() < warm_until:
        fn()
    figures = []
    for _ in range(runs):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        figures.append(elapsed / calls * 1e6)
    return figures


def time_epochs(epoch, samples, runs):
    """Samples/s of `runs` epochs after one warm-up epoch (JIT compiles and allocator growth
    happen there, as in kerasc's own bench)."""
    epoch()
    figures = []
    for _ in range(runs):
        start = time.perf_counter()
        epoch()
        figures.append(samples / (time.perf_counter() - start))
    return figures


def peak_rss_kb():
    """This process's VmHWM: the high-water mark of its own address space (unlike ru_maxrss,
    it does not inherit the launching process's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# How many exported weight arrays each layer kind owns (Keras's get_weights order).
WEIGHT_COUNTS = {model_table.Dense: 2, model_table.Conv2D: 2, model_table.BatchNorm: 4}
KNOWN_LAYERS = tuple(WEIGHT_COUNTS) + (model_table.MaxPool2D, model_table.Activation,
                                       model_table.Dropout, model_table.Flatten,
                                       model_table.GlobalAvgPool2D)


def layer_params(spec, weights):
    """(layer, [its weight arrays], input shape, output shape) per layer of the table row;
    raises for layers the translating peers (PyTorch, ONNX, numpy) do not know."""
    out, i = [], 0
    shapes = model_table.layer_shapes(spec)
    for layer, before, after in zip(spec.layers, shapes, shapes[1:]):
        if not isinstance(layer, KNOWN_LAYERS):
            raise NotImplementedError(f"no translation for {type(layer).__name__} layers")
        n = WEIGHT_COUNTS.get(type(layer), 0)
        out.append((layer, weights[i:i + n], before, after))
        i += n
    return out


def numpy_activation(x, activation):
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if activation != "linear":
        raise NotImplementedError(f"activation {activation}")
    return x


def numpy_forward(params, x):
    """Inference in numpy (channels_last like Keras): convolutions as im2col + matmul."""
    M = model_table
    for layer, w, _, _ in params:
        if isinstance(layer, M.Dense):
            x = numpy_activation(x @ w[0] + w[1], layer.activation)
        elif isinstance(layer, M.Conv2D):
            k = layer.kernel
            if layer.padding == "same":  # odd kernel, stride 1: k // 2 on every side
                x = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
            windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
            b, ho, wo, c = windows.shape[:4]  # [B, Ho, Wo, C, kh, kw] -> rows of (kh, kw, C)
            patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(b * ho * wo, k * k * c)
            y = patches @ w[0].reshape(k * k * c, -1) + w[1]
            x = numpy_activation(y.reshape(b, ho, wo, -1), layer.activation)
        elif isinstance(layer, M.MaxPool2D):
            p = layer.pool
            b, h, wd, c = x.shape
            x = x[:, :h // p * p, :wd // p * p].reshape(b, h // p, p, wd // p, p, c).max((2, 4))
        elif isinstance(layer, M.BatchNorm):
            gamma, beta, mean, variance = w
            x = (x - mean) / np.sqrt(variance + layer.epsilon) * gamma + beta
        elif isinstance(layer, M.Activation):
            x = numpy_activation(x, layer.name)
        elif isinstance(layer, M.Flatten):
            x = x.reshape(x.shape[0], -1)
        elif isinstance(layer, M.GlobalAvgPool2D):
            x = x.mean(axis=(1, 2))
    return x


def verify(prediction, reference):
    diff = float(np.max(np.abs(np.asarray(prediction, dtype=np.float32) - reference)))
    return {"max_abs_diff": diff, "ok": bool(diff <= AGREEMENT_TOLERANCE)}


def infer_inputs(x_ref, batches):
    """A batch of B reference-like rows per batch size (tiled from the reference input)."""
    return {b: np.ascontiguousarray(np.resize(x_ref, (b,) + x_ref.shape[1:])) for b in batches}


# ---------------------------------------------------------------------------------- Keras

def run_keras(args, spec, files, x_ref, y_ref):
    import jax
    import keras
    model = keras.models.load_model(files["keras"])
    report = {"threads": os.cpu_count(), "results": []}
    if args.phase == "infer":
        call = model(x_ref, training=False)
        prediction = np.asarray(model.predict(x_ref, verbose=0))
        report["verify"] = verify(prediction, y_ref)
        report["verify_call"] = verify(np.asarray(call), y_ref)
        for b, xb in infer_inputs(x_ref, args.batches).items():
            def eager_call(xb=xb):
                jax.block_until_ready(model(xb, training=False))
            def predict(xb=xb, b=b):
                model.predict(xb, batch_size=b, verbose=0)
            for variant, fn in (("model(x)", eager_call), ("predict", predict)):
                report["results"].append({"task": f"infer_b{b}", "variant": variant,
                                          "kind": "latency_us", "batch": b,
                                          "runs": time_calls(fn, args.runs, args.min_time)})
    else:
        report["verify"] = None
        x, y = model_table.synthetic_data(spec, args.train_samples)
        for b in args.batches:
            # A fresh compiled copy per batch size, so optimizer state starts from zero.
            trained = keras.models.clone_model(model)
            trained.set_weights(model.get_weights())
            trained.compile(optimizer=keras.optimizers.Adam(
                learning_rate=model_table.ADAM_LEARNING_RATE), loss=spec.loss)
            def epoch(trained=trained, b=b):
                trained.fit(x, y, batch_size=b, epochs=1, verbose=0)
            report["results"].append({"task": f"train_b{b}", "variant": "fit",
                                      "kind": "samples_per_s", "batch": b,
                                      "runs": time_epochs(epoch, args.train_samples, args.runs)})
    return report


# -------------------------------------------------------------------------------- PyTorch

def torch_network(torch, params, final_softmax):
    """nn.Sequential with Keras's weights. Convolutions run in NCHW (PyTorch's native layout):
    the NHWC input is permuted once at the start, and back to NHWC before a Flatten so the
    Dense after it sees Keras's (H, W, C) order."""
    M = model_table

    class Permute(torch.nn.Module):
        def __init__(self, *order):
            super().__init__()
            self.order = order

        def forward(self, x):
            return x.permute(*self.order)

    def activation(name, last):
        if name == "relu":
            return [torch.nn.ReLU()]
        if name == "softmax":
            if not last:
                raise NotImplementedError("softmax before the last layer")
            return [torch.nn.Softmax(dim=-1)] if final_softmax else []
        if name != "linear":
            raise NotImplementedError(f"activation {name}")
        return []

    layers, nchw = [], False
    for index, (layer, w, before, _) in enumerate(params):
        last = index == len(params) - 1
        if isinstance(layer, (M.Conv2D, M.MaxPool2D, M.BatchNorm)) and not nchw:
            layers.append(Permute(0, 3, 1, 2))
            nchw = True
        if isinstance(layer, M.Dense):
            linear = torch.nn.Linear(w[0].shape[0], w[0].shape[1])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w[0].T.copy()))  # Linear.weight = kernel.T
                linear.bias.copy_(torch.from_numpy(w[1]))
            layers += [linear] + activation(layer.activation, last)
        elif isinstance(layer, M.Conv2D):
            k = layer.kernel
            conv = torch.nn.Conv2d(before[-1], layer.filters, k,
                                   padding=k // 2 if layer.padding == "same" else 0)
            with torch.no_grad():  # Keras [kh, kw, Cin, Cout] -> PyTorch [Cout, Cin, kh, kw]
                conv.weight.copy_(torch.from_numpy(w[0].transpose(3, 2, 0, 1).copy()))
                conv.bias.copy_(torch.from_numpy(w[1]))
            layers += [conv] + activation(layer.activation, last)
        elif isinstance(layer, M.MaxPool2D):
            layers.append(torch.nn.MaxPool2d(layer.pool))
        elif isinstance(layer, M.BatchNorm):
            # PyTorch's momentum weighs the new batch: 1 - Keras's momentum.
            bn = torch.nn.BatchNorm2d(before[-1], eps=layer.epsilon, momentum=1 - layer.momentum)
            with torch.no_grad():
                for tensor, value in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), w):
                    tensor.copy_(torch.from_numpy(value))
            layers.append(bn)
        elif isinstance(layer, M.Activation):
            layers += activation(layer.name, last)
        elif isinstance(layer, M.Dropout):
            layers.append(torch.nn.Dropout(layer.rate))
        elif isinstance(layer, M.Flatten):
            if nchw:
                layers.append(Permute(0, 2, 3, 1))
                nchw = False
            layers.append(torch.nn.Flatten())
        elif isinstance(layer, M.GlobalAvgPool2D):
            layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
            nchw = False
    return torch.nn.Sequential(*layers)


def run_pytorch(args, spec, files, x_ref, y_ref):
    import torch
    torch.set_num_threads(os.cpu_count())
    params = layer_params(spec, model_table.load_weights(args.models_dir, spec.name))
    report = {"threads": torch.get_num_threads(), "results": []}
    if args.phase == "infer":
        net = torch_network(torch, params, final_softmax=True).eval()
        with torch.no_grad():
            report["verify"] = verify(net(torch.from_numpy(x_ref)).numpy(), y_ref)
        for b, xb in infer_inputs(x_ref, args.batches).items():
            xt = torch.from_numpy(xb)
            def infer(xt=xt):
                with torch.no_grad():
                    net(xt)
            report["results"].append({"task": f"infer_b{b}", "variant": "eager",
                                      "kind": "latency_us", "batch": b,
                                      "runs": time_calls(infer, args.runs, args.min_time)})
        return report
    report["verify"] = None
    x, y = model_table.synthetic_data(spec, args.train_samples)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    # Keras's sparse categorical crossentropy on softmax outputs is cross-entropy; the idiomatic
    # PyTorch model trains on logits with F.cross_entropy (the faster, usual way), so the
    # training network stops before the softmax.
    if spec.loss == "sparse_categorical_crossentropy":
        loss_fn = torch.nn.functional.cross_entropy
    elif spec.loss == "mse":
        loss_fn = torch.nn.functional.mse_loss
    else:
        raise NotImplementedError(f"loss {spec.loss}")
    base = torch_network(torch, params, final_softmax=False)
    for b in args.batches:
        net = copy.deepcopy(base).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=model_table.ADAM_LEARNING_RATE,
                                     eps=1e-7)  # Keras's Adam epsilon
        def epoch(net=net, optimizer=optimizer, b=b):
            order = torch.randperm(xt.shape[0])
            for start in range(0, xt.shape[0], b):
                index = order[start:start + b]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(net(xt[index]), yt[index])
                loss.backward()
                optimizer.step()
        report["results"].append({"task": f"train_b{b}", "variant": "eager",
                                  "kind": "samples_per_s", "batch": b,
                                  "runs": time_epochs(epoch, args.train_samples, args.runs)})
    return report


# --------------------------------------------------------------------------- ONNX Runtime

def onnx_graph(spec, params):
    """The model as an ONNX graph built by hand: MatMul + Add per Dense; Conv, MaxPool,
    BatchNormalization (inference), GlobalAveragePool in NCHW (ONNX's layout) between a
    Transpose of the NHWC input and a Transpose back before Flatten; Relu / Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    M = model_table
    nodes, initializers, current, nchw = [], [], "x", False

    def node(op, inputs, name, **attrs):
        nonlocal current
        nodes.append(helper.make_node(op, inputs, [name], **attrs))
        current = name

    def weight(array, name):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def activation(name, prefix):
        if name in ("relu", "softmax"):
            op = {"relu": ("Relu", {}), "softmax": ("Softmax", {"axis": -1})}[name]
            node(op[0], [current], f"{prefix}/out", **op[1])
        elif name != "linear":
            raise NotImplementedError(f"activation {name}")

    for i, (layer, w, _, _) in enumerate(params):
        if isinstance(layer, (M.Conv2D, M.MaxPool2D, M.BatchNorm)) and not nchw:
            node("Transpose", [current], "x_nchw", perm=[0, 3, 1, 2])
            nchw = True
        if isinstance(layer, M.Dense):
            node("MatMul", [current, weight(w[0], f"dense_{i}/kernel")], f"dense_{i}/mm")
            node("Add", [current, weight(w[1], f"dense_{i}/bias")], f"dense_{i}/z")
            activation(layer.activation, f"dense_{i}")
        elif isinstance(layer, M.Conv2D):
            k, pad = layer.kernel, layer.kernel // 2 if layer.padding == "same" else 0
            node("Conv", [current, weight(w[0].transpose(3, 2, 0, 1), f"conv_{i}/kernel"),
                          weight(w[1], f"conv_{i}/bias")], f"conv_{i}/z",
                 kernel_shape=[k, k], pads=[pad] * 4)
            activation(layer.activation, f"conv_{i}")
        elif isinstance(layer, M.MaxPool2D):
            node("MaxPool", [current], f"pool_{i}", kernel_shape=[layer.pool] * 2,
                 strides=[layer.pool] * 2)
        elif isinstance(layer, M.BatchNorm):
            names = [weight(a, f"bn_{i}/{n}") for a, n in zip(w, ("gamma", "beta", "mean", "var"))]
            node("BatchNormalization", [current] + names, f"bn_{i}", epsilon=layer.epsilon)
        elif isinstance(layer, M.Activation):
            activation(layer.name, f"act_{i}")
        elif isinstance(layer, M.Flatten):
            if nchw:
                node("Transpose", [current], f"flatten_{i}/nhwc", perm=[0, 2, 3, 1])
                nchw = False
            node("Flatten", [current], f"flatten_{i}", axis=1)
        elif isinstance(layer, M.GlobalAvgPool2D):
            node("GlobalAveragePool", [current], f"gap_{i}/pool")
            node("Flatten", [current], f"gap_{i}", axis=1)
            nchw = False
        # Dropout: the identity at inference, no node.
    graph = helper.make_graph(
        nodes, spec.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *spec.input_shape])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["batch", spec.output_size])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="kerasc-bench")
    model.ir_version = 8  # old enough for any onnxruntime that runs opset 17
    onnx.checker.check_model(model)
    return model


def run_onnxruntime(args, spec, files, x_ref, y_ref):
    if args.phase != "infer":
        raise NotImplementedError("onnxruntime is measured for inference only")
    import onnxruntime as ort
    params = layer_params(spec, model_table.load_weights(args.models_dir, spec.name))
    # Default session options: all graph optimizations, intra-op threads = physical cores.
    session = ort.InferenceSession(onnx_graph(spec, params).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name
    report = {"threads": os.cpu_count(), "results": [],
              "verify": verify(session.run([output], {"x": x_ref})[0], y_ref)}
    for b, xb in infer_inputs(x_ref, args.batches).items():
        def infer(xb=xb):
            session.run([output], {"x": xb})
        report["results"].append({"task": f"infer_b{b}", "variant": "session.run",
                                  "kind": "latency_us", "batch": b,
                                  "runs": time_calls(infer, args.runs, args.min_time)})
    return report


# ------------------------------------------------------------------------ OpenBLAS (numpy)

def gemm_chain_gflops(shapes, runs, min_time):
    """GFLOP/s of the matrix products in `shapes` ((M, K, N) each, one feeding the next's
    input where the sizes allow), float32, preallocated outputs."""
    rng = np.random.default_rng(0)
    operands = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32),
                 np.empty((m, n), dtype=np.float32)) for m, k, n in shapes]
    def chain():
        previous = None
        for a, b, c in operands:
            np.matmul(previous if previous is not None and previous.shape == a.shape else a, b,
                      out=c)
            previous = c
    flops = sum(2 * m * k * n for m, k, n in shapes)
    return [flops / (us * 1e-6) / 1e9 for us in time_calls(chain, runs, min_time)]


def run_openblas(args, spec, files, x_ref, y_ref):
    report = {"threads": os.cpu_count(), "results": []}
    if spec is None:  # the 2048^3 reference
        n = SGEMM_REFERENCE_SIZE
        report["verify"] = None
        report["results"].append({"task": "sgemm", "variant": f"{n}x{n}x{n}", "kind": "gflops",
                                  "batch": n, "runs": gemm_chain_gflops([(n, n, n)], args.runs,
                                                                        args.min_time)})
        return report
    params = layer_params(spec, model_table.load_weights(args.models_dir, spec.name))
    report["verify"] = verify(numpy_forward(params, x_ref), y_ref)
    shapes = model_table.gemm_shapes(spec, SGEMM_BATCH)
    report["results"].append({"task": "sgemm", "variant": "gemm chain b256", "kind": "gflops",
                              "batch": SGEMM_BATCH,
                              "runs": gemm_chain_gflops(shapes, args.runs, args.min_time)})
    return report


SYSTEMS = {"keras": run_keras, "pytorch": run_pytorch, "onnxruntime": run_onnxruntime,
           "openblas": run_openblas}


def main():
    ap = argparse.ArgumentParser(description="one benchmark worker (started by driver.py)")
    ap.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    ap.add_argument("--model", required=True)
    ap.add_argument("--phase", required=True, choices=["infer", "train"])
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--batches", required=True, help="comma-separated batch sizes")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--train-samples", type=int, default=8192)
    args = ap.parse_args()
    args.batches = [int(b) for b in args.batches.split(",") if b]
    if args.model == SGEMM_REFERENCE:
        spec, files, x_ref, y_ref = None, None, None, None
    else:
        spec = model_table.MODELS[args.model]
        files = model_table.paths(args.models_dir, spec.name)
        x_ref, y_ref = np.load(files["x"]), np.load(files["y"])
    report = SYSTEMS[args.system](args, spec, files, x_ref, y_ref)
    report.update(system=args.system, model=args.model, phase=args.phase,
                  vmhwm_kb=peak_rss_kb())
    sys.stdout.flush()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
