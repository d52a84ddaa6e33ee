#!/usr/bin/env python3
"""Round-trip check of tools/convert_htdemucs.py (needs torch; not part of CI).

Builds demucs-style checkpoints (.th: a torch-pickled dict with klass, args, kwargs, state in
float16, kwargs["segment"] a Fraction, sources an OmegaConf-like object) from an earshot model
directory such as ../shared/fixtures/htdemucs/small4, converts them (single and as a bag) and
checks every tensor, the config and the bag layout.

    python3 tools/test_convert_htdemucs.py ../shared/fixtures/htdemucs/small4
"""

import fractions
import json
import struct
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def read_safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    dtypes = {"F32": torch.float32, "F16": torch.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[info["dtype"]])
        out[name] = (info["dtype"], t.reshape(info["shape"]))
    return out


def fake_demucs_modules():
    """A module demucs.htdemucs with an HTDemucs class, and an omegaconf ListConfig look-alike,
    so the pickle references them by name as the real checkpoints do."""
    demucs = types.ModuleType("demucs")
    htdemucs = types.ModuleType("demucs.htdemucs")

    class HTDemucs:
        pass

    HTDemucs.__module__ = "demucs.htdemucs"
    HTDemucs.__qualname__ = "HTDemucs"
    htdemucs.HTDemucs = HTDemucs
    omegaconf = types.ModuleType("omegaconf")
    listconfig = types.ModuleType("omegaconf.listconfig")

    class Node:
        def __init__(self, val):
            self._val = val

    class ListConfig:
        def __init__(self, items):
            self._content = [Node(v) for v in items]

    Node.__module__ = "omegaconf.nodes"
    Node.__qualname__ = "Node"
    ListConfig.__module__ = "omegaconf.listconfig"
    ListConfig.__qualname__ = "ListConfig"
    nodes = types.ModuleType("omegaconf.nodes")
    nodes.Node = Node
    listconfig.ListConfig = ListConfig
    sys.modules.update({"demucs": demucs, "demucs.htdemucs": htdemucs, "omegaconf": omegaconf,
                        "omegaconf.listconfig": listconfig, "omegaconf.nodes": nodes})
    return HTDemucs, ListConfig


def main():
    src = Path(sys.argv[1])
    config = json.loads((src / "config.json").read_text())
    tensors = read_safetensors(src / "model.safetensors")
    klass, listconfig = fake_demucs_modules()
    kwargs = dict(config["kwargs"])
    num, den = config["segment_fraction"]
    kwargs["segment"] = fractions.Fraction(num, den)
    kwargs["sources"] = listconfig(kwargs["sources"])
    state = {k: t.to(torch.float16) for k, (_, t) in tensors.items()}
    package = {"klass": klass, "args": (), "kwargs": kwargs, "state": state,
               "training_args": None, "signature": "0123abcd"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        th = tmp / "0123abcd-feedbeef.th"
        torch.save(package, th)
        for mod in ("demucs", "demucs.htdemucs", "omegaconf", "omegaconf.listconfig", "omegaconf.nodes"):
            del sys.modules[mod]  # the converter must not need them
        out = tmp / "single"
        subprocess.run([sys.executable, str(HERE / "convert_htdemucs.py"), str(th), "-o", str(out)],
                       check=True)
        got_cfg = json.loads((out / "config.json").read_text())
        assert got_cfg["segment_fraction"] == [num, den], got_cfg["segment_fraction"]
        assert got_cfg["training_length_samples"] == config["training_length_samples"]
        assert got_cfg["kwargs"]["sources"] == config["kwargs"]["sources"], got_cfg["kwargs"]["sources"]
        for key, value in config["kwargs"].items():
            assert got_cfg["kwargs"][key] == value, (key, got_cfg["kwargs"][key], value)
        got = read_safetensors(out / "model.safetensors")
        assert list(got) == list(tensors), "tensor names or order differ"
        for name, (dtype, t) in got.items():
            assert dtype == "F16", (name, dtype)
            assert torch.equal(t, state[name]), name
        print(f"single: {len(got)} tensors OK, config OK")

        bag = tmp / "bag"
        yaml = tmp / "bag.yaml"
        yaml.write_text("models: ['0123abcd', '0123abcd']\nweights: [\n  [1., 0., 1., 0.],\n  [0., 1., 0., 1.],\n]\n")
        # Two members with the same signature need two files.
        (tmp / "ck").mkdir()
        th.rename(tmp / "ck" / th.name)
        subprocess.run([sys.executable, str(HERE / "convert_htdemucs.py"), str(tmp / "ck" / th.name),
                        str(tmp / "ck" / th.name), "--weights", "[[1,0,1,0],[0,1,0,1]]",
                        "--dtype", "f32", "-o", str(bag)], check=True)
        top = json.loads((bag / "config.json").read_text())
        assert top["bag"]["weights"] == [[1, 0, 1, 0], [0, 1, 0, 1]], top
        assert len(top["bag"]["models"]) == 2, top
        for member in top["bag"]["models"]:
            got = read_safetensors(bag / member / "model.safetensors")
            for name, (dtype, t) in got.items():
                assert dtype == "F32" and torch.equal(t, state[name].float()), name
        subprocess.run([sys.executable, str(HERE / "convert_htdemucs.py"), "--bag-yaml", str(yaml),
                        "--checkpoint-dir", str(tmp / "ck"), "-o", str(tmp / "bag2")], check=True)
        top2 = json.loads((tmp / "bag2" / "config.json").read_text())
        assert top2["bag"]["weights"] == [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]], top2
        print("bag: OK")
    print(f"{out.parent}: all converter checks passed")


if __name__ == "__main__":
    main()
