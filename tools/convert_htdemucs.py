#!/usr/bin/env python3
"""Convert official demucs HTDemucs checkpoints (.th) to earshot's model directories.

A demucs checkpoint (demucs.states.serialize_model) is a torch-pickled dict with
`klass`, `args`, `kwargs`, `state` (the state dict, float16 in the released files) and a few
training details. earshot reads, per model:

    OUT/config.json        {"class", "module", "kwargs", "segment_fraction",
                            "training_length_samples", "converted_from"}
    OUT/model.safetensors  the state dict under demucs' own names, dtype kept (F16) unless
                           --dtype f32

and for a bag of models (htdemucs_ft: four models, one per source):

    OUT/config.json        {"bag": {"models": [<sig>, ...], "weights": [[...], ...]},
                            "sources": [...]}
    OUT/<sig>/config.json, OUT/<sig>/model.safetensors   one model directory per member

`weights[i][s]` is demucs' BagOfModels weight of model i for source s; earshot combines the
members exactly as apply_model does (sum of weighted outputs divided by the per-source total),
so with htdemucs_ft's one-hot weights each model contributes only its own source.

Usage (torch needed; demucs itself is not: its classes are never instantiated):

    # htdemucs / htdemucs_6s: one checkpoint
    python3 tools/convert_htdemucs.py ~/.cache/torch/hub/checkpoints/955717e8-8726e21a.th -o models/htdemucs
    # htdemucs_ft: the bag's YAML (demucs/remote/htdemucs_ft.yaml) and where its .th files are
    python3 tools/convert_htdemucs.py --bag-yaml htdemucs_ft.yaml \\
        --checkpoint-dir ~/.cache/torch/hub/checkpoints -o models/htdemucs_ft
    # or the checkpoints and weights explicitly
    python3 tools/convert_htdemucs.py a.th b.th c.th d.th \\
        --weights '[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]' -o models/htdemucs_ft
"""

import argparse
import ast
import fractions
import json
import pickle
import re
import struct
import sys
from pathlib import Path


class _Placeholder:
    """Stands in for demucs/omegaconf classes referenced by the pickle, keeping their state."""

    def __init__(self, *args, **kwargs):
        self._args = args

    def __setstate__(self, state):
        self._state = state
        if isinstance(state, dict):
            self.__dict__.update(state)


def _placeholder_for(module, name):
    return type(name, (_Placeholder,), {"__module__": module, "_demucs_name": f"{module}.{name}"})


class _Unpickler(pickle.Unpickler):
    # demucs, omegaconf or dora classes need not be installed: they become placeholders.
    def find_class(self, module, name):
        if module.split(".")[0] in ("demucs", "omegaconf", "dora"):
            return _placeholder_for(module, name)
        return super().find_class(module, name)


class _PickleModule:
    Unpickler = _Unpickler
    load = pickle.load
    __name__ = "convert_htdemucs_pickle"


def _to_json(value):
    """kwargs values as JSON (Fractions as floats; the exact segment is kept separately)."""
    if isinstance(value, _Placeholder):
        # An OmegaConf ListConfig/DictConfig (training configs pass them as kwargs): its
        # pickled state keeps the values in `_content`, leaf nodes in `_val`.
        if "_content" in value.__dict__:
            return _to_json(value.__dict__["_content"])
        if "_val" in value.__dict__:
            return _to_json(value.__dict__["_val"])
        return str(getattr(value, "_state", value))
    if isinstance(value, fractions.Fraction):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "items"):
        return {str(k): _to_json(v) for k, v in value.items()}
    if hasattr(value, "__iter__"):
        return [_to_json(v) for v in value]
    return str(value)


def _segment_fraction(segment):
    frac = fractions.Fraction(segment).limit_denominator(1000) if not isinstance(
        segment, fractions.Fraction) else segment
    return [frac.numerator, frac.denominator]


def _write_safetensors(path, tensors, metadata):
    """Plain safetensors writer (8-byte header length, JSON header, raw little-endian data)."""
    import torch

    dtypes = {torch.float16: "F16", torch.float32: "F32", torch.bfloat16: "BF16",
              torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype not in dtypes:
            raise SystemExit(f"{name}: unsupported dtype {tensor.dtype}")
        data = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": dtypes[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def convert_one(checkpoint, out_dir, dtype):
    import torch

    try:  # torch >= 1.13 knows weights_only; full unpickling is needed for klass/kwargs
        package = torch.load(checkpoint, map_location="cpu", pickle_module=_PickleModule,
                             weights_only=False)
    except TypeError:
        package = torch.load(checkpoint, map_location="cpu", pickle_module=_PickleModule)
    if not isinstance(package, dict) or "state" not in package or "kwargs" not in package:
        raise SystemExit(f"{checkpoint}: not a demucs checkpoint (no 'state'/'kwargs')")
    klass = package.get("klass")
    klass_name = getattr(klass, "_demucs_name", str(klass))
    if klass_name.split(".")[-1] != "HTDemucs":
        raise SystemExit(f"{checkpoint}: model class {klass_name}, only HTDemucs is supported")
    if package.get("args"):
        raise SystemExit(f"{checkpoint}: positional constructor args are not supported")
    state = package["state"]
    if state.get("__quantized"):
        raise SystemExit(f"{checkpoint}: diffq-quantized checkpoints are not supported")
    kwargs = _to_json(dict(package["kwargs"]))
    kwargs["segment"] = package["kwargs"].get("segment", 10)  # keep the Fraction
    segment = kwargs.get("segment", 10)
    seg_frac = _segment_fraction(segment)
    samplerate = int(kwargs.get("samplerate", 44100))
    config = {
        "class": "HTDemucs",
        "module": "demucs.htdemucs",
        "kwargs": {**kwargs, "segment": float(segment)},
        "segment_fraction": seg_frac,
        # int(Fraction * samplerate), computed with integers as earshot does.
        "training_length_samples": seg_frac[0] * samplerate // seg_frac[1],
        "converted_from": Path(checkpoint).name,
    }
    tensors = {}
    for name, tensor in state.items():
        if dtype == "f32" and tensor.is_floating_point():
            tensor = tensor.float()
        tensors[name] = tensor
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _write_safetensors(out_dir / "model.safetensors", tensors,
                       {"format": "pt", "class": "HTDemucs", "source": Path(checkpoint).name})
    print(f"{checkpoint} -> {out_dir} ({len(tensors)} tensors, sources {config['kwargs']['sources']}, "
          f"segment {seg_frac[0]}/{seg_frac[1]} s)")
    return config


def _read_bag_yaml(path):
    text = Path(path).read_text()
    try:
        import yaml  # type: ignore
        data = yaml.safe_load(text)
    except ImportError:
        # demucs' bag files are tiny: `models: [...]` and `weights: [[...], ...]`.
        data = {}
        for key in ("models", "weights", "segment"):
            m = re.search(rf"^{key}\s*:\s*(.*?)(?=^\w+\s*:|\Z)", text, re.S | re.M)
            if m:
                data[key] = ast.literal_eval(m.group(1).strip())
    if "models" not in data:
        raise SystemExit(f"{path}: no 'models' list")
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", help="demucs .th checkpoint(s)")
    parser.add_argument("-o", "--out", required=True, help="output model directory")
    parser.add_argument("--weights", help="bag weights as JSON, one list of per-source weights per model")
    parser.add_argument("--bag-yaml", help="a demucs bag description (models: [...], weights: ...)")
    parser.add_argument("--checkpoint-dir", help="where the bag's <signature>-*.th files are")
    parser.add_argument("--dtype", choices=["keep", "f32"], default="keep",
                        help="keep the checkpoint's dtype (F16 for the released models) or upcast")
    args = parser.parse_args(argv)
    out = Path(args.out)

    checkpoints = [Path(c) for c in args.checkpoints]
    weights = json.loads(args.weights) if args.weights else None
    names = None
    if args.bag_yaml:
        bag = _read_bag_yaml(args.bag_yaml)
        if not args.checkpoint_dir:
            raise SystemExit("--bag-yaml needs --checkpoint-dir")
        names = [str(sig) for sig in bag["models"]]
        checkpoints = []
        for sig in names:
            found = sorted(Path(args.checkpoint_dir).glob(f"{sig}*.th"))
            if not found:
                raise SystemExit(f"no checkpoint {sig}-*.th in {args.checkpoint_dir}")
            checkpoints.append(found[0])
        weights = weights or bag.get("weights")
    if not checkpoints:
        raise SystemExit("no checkpoint given")

    if len(checkpoints) == 1 and weights is None:
        convert_one(checkpoints[0], out, args.dtype)
        return 0

    names = names or [c.stem.split("-")[0] for c in checkpoints]
    if len(set(names)) != len(names):
        names = [f"model{i}" for i in range(len(checkpoints))]
    configs = [convert_one(c, out / n, args.dtype) for c, n in zip(checkpoints, names)]
    sources = configs[0]["kwargs"]["sources"]
    for cfg in configs:
        if cfg["kwargs"]["sources"] != sources:
            raise SystemExit("the bag's models disagree on their sources")
        if cfg["training_length_samples"] != configs[0]["training_length_samples"]:
            raise SystemExit("the bag's models have different segments (unsupported)")
    if weights is None:
        weights = [[1.0] * len(sources) for _ in configs]
    if len(weights) != len(configs) or any(len(w) != len(sources) for w in weights):
        raise SystemExit("weights must be one list of len(sources) numbers per model")
    top = {"bag": {"models": names, "weights": weights}, "sources": sources}
    (out / "config.json").write_text(json.dumps(top, indent=2) + "\n")
    print(f"bag of {len(configs)} models -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
