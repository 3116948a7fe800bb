#!/usr/bin/env python3
"""PyTorch baseline of `npm run bench` (bench/run.mjs): the same workloads, timed the same way.

Two modes:

  python3 torch_bench.py [--quick] [--only F1,T1] [--rounds N]
      runs the workloads itself (alternating rounds) and prints one JSON object:
      {"info": {...}, "results": [{"id", "threads", "times": [seconds...]}, ...]}

  python3 torch_bench.py --serve
      what run.mjs uses, so that PyTorch's rounds alternate with cellstate's in one run: reads
      one JSON command per line on stdin and answers one JSON line on stdout.
        {"cmd": "info"}                                      -> {"info": {...}}
        {"cmd": "run", "spec": {...}, "threads": n, "warmup": w, "reps": r}
                                                             -> {"times": [seconds...]}
        {"cmd": "quit"}
        {"cmd": "check", "spec": {...}, "ref": path, "steps": n}
                                                             -> {"maxAbsDiff": d, "maxAbsRef": m}
      spec: {"kind": "lstm"|"gru"|"gemm", "mode": "infer"|"train"|"step", "T", "B", "I", "H"}
      (gemm: "n"; step: "L", one time step of batch 1 per call, the state carried over, over
      "frames" inputs in turn). Optional, for the int8 rows: "quant": "onednn"|"qnnpack" runs
      torch.ao.quantization.quantize_dynamic (qint8 weights, dynamic activations) on that
      quantized engine; "weights": {name: file} loads float32 raw files (the layer's
      parameters, PyTorch's names) and "x": file the input ([T,B,I], or [frames, I] for step),
      so that "check" compares the output (the first `steps` steps for step) with the float32
      raw file `ref`. Errors answer {"error": "..."}.

Inference runs under torch.no_grad(); a training step is forward + backward of an upstream
gradient on the output, computing every weight gradient and the input gradient (as cellstate's
backward does). Gradients accumulate between steps, as in cellstate.

PyTorch's speed on CPU depends on the BLAS it is linked to: Debian's python3-torch uses
libblas.so.3, which is the slow reference BLAS unless OpenBLAS is installed (run.mjs puts
libopenblas0-openmp's folder first on LD_LIBRARY_PATH when it exists); "blas" in the info says
which library was loaded.
"""
import argparse
import json
import os
import platform
import sys
import time

try:
    import torch
except ImportError as e:  # run.mjs reports this and skips the baseline
    print(json.dumps({"error": "PyTorch is not installed for %s: %s" % (sys.executable, e)}))
    sys.exit(3)

# The workloads of bench/run.mjs (issue 3), for standalone runs.
WORKLOADS = [
    ("F1", {"kind": "lstm", "mode": "infer", "T": 100, "B": 32, "I": 256, "H": 256}, [1, 2]),
    ("F2", {"kind": "lstm", "mode": "infer", "T": 200, "B": 64, "I": 512, "H": 1024}, [2]),
    ("T1", {"kind": "lstm", "mode": "train", "T": 100, "B": 32, "I": 256, "H": 256}, [1, 2]),
    ("T2", {"kind": "lstm", "mode": "train", "T": 100, "B": 64, "I": 512, "H": 512}, [2]),
    ("G1-F", {"kind": "gru", "mode": "infer", "T": 100, "B": 32, "I": 256, "H": 256}, [1, 2]),
    ("G1-T", {"kind": "gru", "mode": "train", "T": 100, "B": 32, "I": 256, "H": 256}, [1, 2]),
]


def loaded_blas():
    """Path of the BLAS library this process loaded (from /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if "blas" in name and ".so" in name:
                    return path
    except OSError:
        pass
    return None


def runtime_info():
    torch.zeros(4, 4) @ torch.zeros(4, 4)  # make sure the BLAS is loaded
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "blas": loaded_blas(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability()
        if hasattr(torch.backends, "cpu")
        else None,
    }


class Wrapper(torch.nn.Module):
    """A parent for quantize_dynamic to swap the recurrent module in."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, state=None):
        return self.net(x, state)


class Workload:
    """One prepared workload: the module, input and upstream gradient, made once."""

    def __init__(self, spec):
        torch.manual_seed(1)
        self.spec = spec
        kind = spec["kind"]
        if kind == "gemm":
            n = spec["n"]
            self.a = torch.rand(n, n) * 2 - 1
            self.b = torch.rand(n, n) * 2 - 1
            self.call = lambda: torch.mm(self.a, self.b)
            return
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        if spec["mode"] == "step":
            I, H, L = spec["I"], spec["H"], spec.get("L", 1)
            self.net = cls(I, H, num_layers=L)
            self.load(spec)
            frames = spec.get("frames", 64)
            self.x = self.read(spec["x"], (frames, 1, 1, I)) if "x" in spec else torch.rand(frames, 1, 1, I)
            self.net.eval()
            self.net = self.quantized(self.net, spec)
            self.k = 0
            self.state = None
            self.call = self.step
            return
        T, B, I, H = spec["T"], spec["B"], spec["I"], spec["H"]
        self.net = cls(I, H)  # time-major [T, B, I], one layer, one direction
        self.load(spec)
        self.x = self.read(spec["x"], (T, B, I)) if "x" in spec else torch.rand(T, B, I) * 2 - 1
        if spec.get("quant"):
            self.net.eval()
            self.net = self.quantized(self.net, spec)
            self.call = self.infer
        elif spec["mode"] == "infer":
            self.net.eval()
            self.call = self.infer
        else:
            self.net.train()
            self.x.requires_grad_(True)
            self.g = torch.rand(T, B, H) * 2 - 1
            self.call = self.train_step

    @staticmethod
    def read(path, shape):
        import numpy

        return torch.from_numpy(numpy.fromfile(path, dtype=numpy.float32).reshape(shape))

    def load(self, spec):
        if "weights" not in spec:
            return
        own = self.net.state_dict()
        self.net.load_state_dict(
            {k: self.read(path, tuple(own[k].shape)) for k, path in spec["weights"].items()}
        )

    @staticmethod
    def quantized(net, spec):
        engine = spec.get("quant")
        if not engine:
            return net
        if engine not in torch.backends.quantized.supported_engines:
            raise RuntimeError("quantized engine %s not in this PyTorch" % engine)
        torch.backends.quantized.engine = engine
        # quantize_dynamic swaps submodules only (a bare nn.LSTM comes back float): wrap it
        wrapped = torch.ao.quantization.quantize_dynamic(
            Wrapper(net), {torch.nn.LSTM, torch.nn.GRU}, dtype=torch.qint8
        )
        if type(wrapped.net) in (torch.nn.LSTM, torch.nn.GRU):
            raise RuntimeError("quantize_dynamic left the %s float" % type(net).__name__)
        return wrapped

    def step(self):
        with torch.no_grad():
            out, self.state = self.net(self.x[self.k % self.x.shape[0]], self.state)
        self.k += 1
        return out

    def check(self, ref_path, steps):
        """Largest |output - ref| (ref: float32 raw, the same layout as the output)."""
        import numpy

        ref = numpy.fromfile(ref_path, dtype=numpy.float32)
        if self.spec["mode"] == "step":
            self.k, self.state = 0, None
            out = torch.cat([self.step().reshape(-1) for _ in range(steps)])
            self.k, self.state = 0, None
        else:
            with torch.no_grad():
                out = self.net(self.x)[0].reshape(-1)
        got = out.detach().numpy()
        torch.backends.quantized.engine = self.spec.get("quant") or torch.backends.quantized.engine
        return {
            "maxAbsDiff": float(numpy.max(numpy.abs(got - ref))),
            "maxAbsRef": float(numpy.max(numpy.abs(ref))),
        }

    def infer(self):
        with torch.no_grad():
            return self.net(self.x)[0]

    def train_step(self):
        out = self.net(self.x)[0]
        out.backward(self.g)
        return out

    def run(self, threads, warmup, reps):
        torch.set_num_threads(threads)
        if self.spec.get("quant"):
            torch.backends.quantized.engine = self.spec["quant"]
        for _ in range(warmup):
            self.call()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            self.call()
            times.append(time.perf_counter() - t0)
        return times


def serve():
    cache = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                break
            if cmd["cmd"] == "info":
                answer = {"info": runtime_info()}
            elif cmd["cmd"] == "run":
                key = json.dumps(cmd["spec"], sort_keys=True)
                if key not in cache:
                    cache[key] = Workload(cmd["spec"])
                times = cache[key].run(int(cmd["threads"]), int(cmd["warmup"]), int(cmd["reps"]))
                answer = {"times": times}
            elif cmd["cmd"] == "check":
                key = json.dumps(cmd["spec"], sort_keys=True)
                if key not in cache:
                    cache[key] = Workload(cmd["spec"])
                answer = cache[key].check(cmd["ref"], int(cmd.get("steps", 0)))
            else:
                answer = {"error": "unknown command %r" % cmd["cmd"]}
        except Exception as e:  # reported to run.mjs, which skips that measurement
            answer = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def standalone(args):
    only = set(args.only.split(",")) if args.only else None
    todo = []
    for name, spec, threads in WORKLOADS:
        if only and name not in only and name.split("-")[0] not in only:
            continue
        for t in threads:
            todo.append((name, spec, t))
    prepared = {name: Workload(spec) for name, spec, _ in todo}
    times = {(name, t): [] for name, _, t in todo}
    for name, _, t in todo:  # warm-up
        prepared[name].run(t, 1, 0)
    rounds = args.rounds or (1 if args.quick else 3)
    for r in range(rounds):
        order = todo if r % 2 == 0 else list(reversed(todo))
        for name, _, t in order:
            times[(name, t)] += prepared[name].run(t, 0, 1 if args.quick else 2)
    results = [{"id": name, "threads": t, "times": times[(name, t)]} for name, _, t in todo]
    print(json.dumps({"info": runtime_info(), "results": results}, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--serve", action="store_true", help="answer run.mjs's commands on stdin")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--only", default="", help="comma-separated workload names (F1,T1,G1,...)")
    p.add_argument("--rounds", type=int, default=0, help="alternating rounds (default 3)")
    args = p.parse_args()
    if args.serve:
        serve()
    else:
        standalone(args)


if __name__ == "__main__":
    main()
