#!/usr/bin/env python3
"""Generates the PyTorch test data of test/io (run once; the outputs are committed):

  torch_*.safetensors   state_dicts of nn.LSTM / nn.GRU / nn.RNN and of a module with
                        nn.Embedding + nn.LSTM + nn.Linear, in the safetensors layout
  torch_*.onnx          the same kind of models exported by torch.onnx.export
  torch_expected.json   PyTorch's outputs for fixed inputs

Written with /usr/bin/python3 and Debian's python3-torch (1.13). The safetensors files are
written here with struct and json (the layout of safetensors.torch.save_file: tensors sorted by
name, header padded with spaces to a multiple of 8, __metadata__ {"format": "pt"}), so the
`safetensors` package is not needed.

    /usr/bin/python3 test/data/make_torch.py
"""
import json
import os
import struct

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20240501)

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def save_safetensors(state, path):
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    pos = 0
    for name in sorted(state):
        t = state[name].detach().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def tensor_json(t):
    t = t.detach().contiguous().float()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


expected = {}


def recurrent_case(name, module, x, dtype=torch.float32):
    module = module.eval()
    if dtype != torch.float32:
        # stored in half precision; PyTorch computes with those values in float32
        state = {k: v.to(dtype) for k, v in module.state_dict().items()}
        module.load_state_dict({k: v.float() for k, v in state.items()})
    else:
        state = module.state_dict()
    save_safetensors(state, f"torch_{name}.safetensors")
    with torch.no_grad():
        out = module(x)
    output, rest = out
    entry = {"x": tensor_json(x), "output": tensor_json(output)}
    if isinstance(rest, tuple):
        entry["h"] = tensor_json(rest[0])
        entry["c"] = tensor_json(rest[1])
    else:
        entry["h"] = tensor_json(rest)
    expected[name] = entry


recurrent_case("lstm", nn.LSTM(3, 5, num_layers=2, bidirectional=True), torch.randn(6, 2, 3))
recurrent_case("gru_batch_first", nn.GRU(4, 6, batch_first=True), torch.randn(2, 5, 4))
recurrent_case("rnn_relu", nn.RNN(3, 4, num_layers=2, nonlinearity="relu"), torch.randn(5, 3, 3))
recurrent_case("lstm_proj", nn.LSTM(3, 6, proj_size=2, bidirectional=True), torch.randn(4, 2, 3))
recurrent_case("gru_f16", nn.GRU(3, 4), torch.randn(5, 2, 3), torch.float16)
recurrent_case("rnn_bf16", nn.RNN(2, 3), torch.randn(4, 2, 2), torch.bfloat16)


class Classifier(nn.Module):
    """Token ids [T, B] → per-step class probabilities [T, B, 3] (and the logits of the last step)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.lstm = nn.LSTM(4, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.fc(y)


clf = Classifier().eval()
save_safetensors(clf.state_dict(), "torch_classifier.safetensors")
tokens = torch.tensor([[1, 2], [3, 9], [0, 5], [7, 7]])
with torch.no_grad():
    logits = clf(tokens)
    y, _ = clf.lstm(clf.emb(tokens))
    last = clf.fc(y[-1])
expected["classifier"] = {
    "tokens": {"shape": list(tokens.shape), "data": tokens.reshape(-1).tolist()},
    "logits": tensor_json(logits),
    "probabilities": tensor_json(torch.softmax(logits, -1)),
    "last_logits": tensor_json(last),
}


# ONNX files made by PyTorch's exporter, for importOnnx.
class StackHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return torch.softmax(self.fc(y), -1)


class LastStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.gru(x)
        return torch.sigmoid(self.fc(y[-1]))


def onnx_case(name, module, x, outputs):
    module = module.eval()
    dynamic = {"x": {0: "T", 1: "B"}}
    for o in outputs:
        dynamic[o] = {0: "T", 1: "B"} if o == "y" else {1: "B"}
    torch.onnx.export(
        module, (x,), os.path.join(HERE, f"torch_{name}.onnx"), input_names=["x"],
        output_names=outputs, dynamic_axes=dynamic, opset_version=14,
    )
    with torch.no_grad():
        out = module(x)
    if not isinstance(out, tuple):
        out = (out,)
    flat = []
    for o in out:
        flat.extend(o if isinstance(o, tuple) else (o,))
    entry = {"x": tensor_json(x)}
    for k, v in zip(outputs, flat):
        entry[k] = tensor_json(v)
    expected[f"onnx_{name}"] = entry


onnx_case("lstm_head", StackHead(), torch.randn(6, 2, 3), ["y"])
onnx_case("gru_last", LastStep(), torch.randn(5, 3, 4), ["y"])
onnx_case("rnn_relu", nn.RNN(3, 4, nonlinearity="relu"), torch.randn(4, 2, 3), ["y", "h"])


class FinalState(nn.Module):
    """The classic classifier: a Linear on the last layer's final hidden state h_n[-1]."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, num_layers=2)
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return torch.softmax(self.fc(h[-1]), -1)


onnx_case("lstm_hn", FinalState(), torch.randn(5, 2, 3), ["y"])

with open(os.path.join(HERE, "torch_expected.json"), "w") as f:
    json.dump(expected, f, indent=None)
    f.write("\n")
print("wrote", sorted(os.listdir(HERE)))
