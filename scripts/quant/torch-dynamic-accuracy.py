#!/usr/bin/python3
"""The accuracy bar of int8 dynamic quantization (issue 17), measured on PyTorch.

For the fixtures' shapes (test/fixtures: the LSTM and GRU cases PyTorch's nn modules compute,
without lengths or projection, which torch's dynamic quantization leaves in float) and for the
demo's character model (Embedding(V, 32) -> LSTM(128) -> Linear(V) trained on
examples/data/alice.txt as examples/main.mjs does), it reports the largest output difference from
float32 and the change in bits per character of:

  torch-<engine>   torch.ao.quantization.quantize_dynamic(..., dtype=torch.qint8) on each quantized
                   engine this PyTorch has (Debian's: onednn, qnnpack; fbgemm where built);
                   per-tensor weights, per-tensor u8 activations (PyTorch's defaults);
  cellstate-sim    cellstate's scheme (cpp/src/ukernel/qgemm/qgemm.h) simulated exactly: weights
                   symmetric int8 with one scale per output row, activations (x_t, h_{t-1})
                   symmetric int8 with one scale per row and step, int32 sums (exact here in
                   float64), float post-GEMM. The Dense/Linear layer quantized alike.

Run with Debian's /usr/bin/python3 (python3-torch). Prints a table; --json FILE writes the figures.
"""
import argparse
import glob
import json
import math
import os
import sys

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- cellstate's scheme, simulated ---------------------------------------------------------
def qrows(x):
    """Per-row symmetric int8: values in [-127, 127] (as float64) and one scale per row."""
    x = x.to(torch.float32)
    amax = x.abs().amax(dim=-1, keepdim=True)
    scale = amax / 127.0
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
    q = torch.round(x * inv).clamp(-127, 127)  # round half to even, as the kernels
    return q.double(), scale.double()


class QLinear:
    """y = dequant(qrows(x) . Wq^T) + bias, the int8 GEMM of cellstate."""

    def __init__(self, w, b=None):
        self.wq, self.ws = qrows(w.detach())
        self.b = None if b is None else b.detach().double()

    def __call__(self, x):
        qx, sx = qrows(x)
        y = (qx @ self.wq.T) * sx * self.ws.T
        if self.b is not None:
            y = y + self.b
        return y.to(torch.float32)


def sim_rnn(mod, x, hx):
    """nn.LSTM / nn.GRU (batch_first honoured, no lengths, no projection) with int8 GEMMs."""
    lstm = isinstance(mod, nn.LSTM)
    if mod.batch_first:
        x = x.transpose(0, 1)
    T, B, _ = x.shape
    D = 2 if mod.bidirectional else 1
    H = mod.hidden_size
    if hx is None:
        h0 = torch.zeros(mod.num_layers * D, B, H)
        c0 = torch.zeros_like(h0)
    else:
        h0, c0 = (hx if lstm else (hx, None))
    hN, cN = [], []
    inp = x
    for layer in range(mod.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            wih = QLinear(getattr(mod, "weight_ih" + sfx), getattr(mod, "bias_ih" + sfx))
            whh = QLinear(getattr(mod, "weight_hh" + sfx), getattr(mod, "bias_hh" + sfx))
            gx = wih(inp.reshape(T * B, -1)).reshape(T, B, -1)  # input GEMM over all T*B rows
            h = h0[layer * D + d].clone()
            c = c0[layer * D + d].clone() if lstm else None
            out = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                gh = whh(h)
                if lstm:
                    i, f, g, o = (gx[t] + gh).chunk(4, dim=-1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                else:
                    xr, xz, xn = gx[t].chunk(3, dim=-1)
                    hr, hz, hn = gh.chunk(3, dim=-1)
                    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                    n = torch.tanh(xn + r * hn)
                    h = (1 - z) * n + z * h
                out[t] = h
            outs.append(torch.stack(out))
            hN.append(h)
            cN.append(c)
        inp = torch.cat(outs, dim=-1)
    y = inp.transpose(0, 1) if mod.batch_first else inp
    hN = torch.stack(hN)
    return y, ((hN, torch.stack(cN)) if lstm else hN)


# ---- fixtures ------------------------------------------------------------------------------
def tensor(t):
    return None if t is None else torch.tensor(t["data"], dtype=torch.float64).reshape(t["shape"])


def fixture_cases():
    for path in sorted(glob.glob(os.path.join(ROOT, "test", "fixtures", "*.json"))):
        f = json.load(open(path))
        cfg = f["config"]
        if f["cell"] not in ("lstm", "gru") or f["lengths"] is not None:
            continue
        if f["cell"] == "lstm" and (
            cfg["projSize"] or cfg["peephole"] or cfg["coupled"] or not cfg["inputGate"]
            or not cfg["forgetGate"] or not cfg["outputGate"] or not cfg["inputActivation"]
            or not cfg["outputActivation"]):
            continue
        if f["cell"] == "gru" and not cfg["resetAfter"]:
            continue
        yield f


def build(f):
    cfg = f["config"]
    cls = nn.LSTM if f["cell"] == "lstm" else nn.GRU
    m = cls(cfg["inputSize"], cfg["hiddenSize"], num_layers=cfg["numLayers"],
            bidirectional=cfg["bidirectional"], batch_first=cfg["batchFirst"])
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(tensor(f["params"][name]).float())
    return m


def outputs(res, lstm):
    y, hx = res
    return [y, hx[0], hx[1]] if lstm else [y, hx]


def maxdiff(a, b):
    return max(float((x.double() - y.double()).abs().max()) for x, y in zip(a, b))


def engines():
    have = [e for e in ("onednn", "fbgemm", "qnnpack") if e in torch.backends.quantized.supported_engines]
    return have


class Holder(nn.Module):
    """quantize_dynamic swaps children only: a bare nn.LSTM is wrapped in one."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, hx=None):
        return self.rnn(x, hx)


def quantized(model, engine, types):
    torch.backends.quantized.engine = engine
    if isinstance(model, (nn.LSTM, nn.GRU)):
        model = Holder(model)
    q = torch.ao.quantization.quantize_dynamic(model, types, dtype=torch.qint8)
    inner = q.rnn if isinstance(q, Holder) else q
    assert any("quantized" in type(mod).__module__ for mod in inner.modules()) or "quantized" in type(inner).__module__, "not quantized"
    return q


def run_fixtures(rows):
    for f in fixture_cases():
        lstm = f["cell"] == "lstm"
        m = build(f).eval()
        x = tensor(f["inputs"]["x"]).float()
        h0 = tensor(f["inputs"]["h0"])
        hx = None
        if h0 is not None:
            hx = (h0.float(), tensor(f["inputs"]["c0"]).float()) if lstm else h0.float()
        with torch.no_grad():
            ref = outputs(m(x, hx), lstm)
            want64 = [tensor(f["outputs"][k]) for k in (("output", "hN", "cN") if lstm else ("output", "hN"))]
            row = {"case": f["name"], "float32 vs float64": maxdiff(ref, want64)}
            for e in engines():
                q = quantized(m, e, {nn.LSTM, nn.GRU})
                row["torch-" + e] = maxdiff(outputs(q(x, hx), lstm), ref)
            row["cellstate-sim"] = maxdiff(outputs(sim_rnn(m, x, hx), lstm), ref)
        rows.append(row)


# ---- the demo's character model ------------------------------------------------------------
class CharModel(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.lstm = nn.LSTM(32, 128, batch_first=True)
        self.out = nn.Linear(128, V)

    def forward(self, x, sim=False):
        e = self.emb(x)
        if sim:
            y, _ = sim_rnn(self.lstm, e, None)
            B, T, Hh = y.shape
            return QLinear(self.out.weight, self.out.bias)(y.reshape(B * T, Hh)).reshape(B, T, -1)
        y, _ = self.lstm(e)
        return self.out(y)


def read_cellstate_file(path):
    """The float32 tensors of a cellstate (safetensors) file, by name."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise SystemExit("%s: tensor %s is %s, expected a float model" % (path, name, e["dtype"]))
        b, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:end]), dtype=torch.float32).reshape(e["shape"])
    return out


CELLSTATE_NAMES = {
    "0.weight": "emb.weight",
    "1.weight_ih_l0": "lstm.weight_ih_l0",
    "1.weight_hh_l0": "lstm.weight_hh_l0",
    "1.bias_ih_l0": "lstm.bias_ih_l0",
    "1.bias_hh_l0": "lstm.bias_hh_l0",
    "2.weight": "out.weight",
    "2.bias": "out.bias",
}


def run_char(epochs, weights=None):
    text = open(os.path.join(ROOT, "examples", "data", "alice.txt"), encoding="utf8").read()
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    L = 64
    N = (len(ids) - 1) // L
    x = ids[: N * L].reshape(N, L)
    y = ids[1 : N * L + 1].reshape(N, L)
    torch.manual_seed(1)
    m = CharModel(len(vocab))
    opt = torch.optim.Adam(m.parameters(), lr=0.005)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    if weights:
        # cellstate's trained model (scripts/quant/cellstate-accuracy.mjs --save): no training
        tensors = read_cellstate_file(weights)
        m.load_state_dict({CELLSTATE_NAMES[k]: v for k, v in tensors.items()})
        epochs = 0
    for _ in range(epochs):
        perm = torch.randperm(N, generator=g)
        for b in range(0, N, 16):
            idx = perm[b : b + 16]
            opt.zero_grad()
            loss = lossf(m(x[idx]).reshape(-1, len(vocab)), y[idx].reshape(-1))
            loss.backward()
            opt.step()
    m.eval()

    def bpc(logits):
        return float(lossf(logits.reshape(-1, len(vocab)), y.reshape(-1))) / math.log(2)

    with torch.no_grad():
        ref = m(x)
        res = {"float32 bpc": bpc(ref), "N": N, "L": L, "V": len(vocab), "epochs": epochs}
        for e in engines():
            q = quantized(m, e, {nn.LSTM, nn.Linear})
            lq = q(x)
            res["torch-" + e] = {"max logit diff": float((lq - ref).abs().max()),
                                 "bpc change": bpc(lq) - res["float32 bpc"]}
        ls = m(x, sim=True)
        res["cellstate-sim"] = {"max logit diff": float((ls - ref).abs().max()),
                                "bpc change": bpc(ls) - res["float32 bpc"]}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--json")
    ap.add_argument("--weights", help="a float cellstate file of the character model to use "
                    "instead of training one (cellstate-accuracy.mjs --save)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    run_fixtures(rows)
    cols = ["float32 vs float64"] + ["torch-" + e for e in engines()] + ["cellstate-sim"]
    print(f"torch {torch.__version__}; quantized engines: {', '.join(engines())}")
    print("\nLargest |output - float32 output| over output, hN (, cN), fixture shapes:")
    print(f"| case | {' | '.join(cols)} |")
    print("|---" * (len(cols) + 1) + "|")
    for r in rows:
        print(f"| {r['case']} | " + " | ".join(f"{r[c]:.2e}" for c in cols) + " |")
    char = run_char(args.epochs, args.weights)
    print(f"\nCharacter model (Embedding({char['V']}, 32) -> LSTM(128) -> Linear({char['V']}), "
          f"{'cellstate-trained weights' if args.weights else str(char['epochs']) + ' epochs'} on alice.txt; "
          f"float32: {char['float32 bpc']:.4f} bits/char):")
    print("| scheme | max logit diff | bpc change |")
    print("|---|---|---|")
    for k in cols[1:]:
        print(f"| {k} | {char[k]['max logit diff']:.3e} | {char[k]['bpc change']:+.4f} |")
    if args.json:
        json.dump({"fixtures": rows, "char": char}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
