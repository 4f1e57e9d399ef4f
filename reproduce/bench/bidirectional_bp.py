"""Training throughput of the paper's MNIST net per learning rule, through the suite and in plain PyTorch.

    python -m reproduce.bench.bidirectional_bp
    python -m reproduce.bench.bidirectional_bp --methods bp dfa --epochs 4 --train-size 25600 --threads 2

The net is the paper's 784-800-800-10 tanh MLP, batch 128, sigmoid + BCE, plain SGD. Cost does not
depend on pixel values, so the data are generated (the suite's `synthetic` dataset, MNIST's shape).

How it measures: for every method, the same batches (one VisionDataModule, resident tensors) are
trained two ways, alternately, in this process:
  lightning  the BidirectionalBPModule under a Trainer (no logger, no checkpoints, no progress bar,
             no validation), its own per-epoch clock: first batch to the end of the last batch;
  plain      a for-loop over the same batches calling the same `rules.train_step` and a
             torch.optim.SGD step, and accumulating the loss and error as tensors like the module.
Both skip the per-epoch alignment diagnostic and test pass (the suite's real runs do them once per
epoch, outside the clock). The first epoch of each is a warm-up and not counted; the figure is the
median samples/s over the remaining epochs. overhead = plain / lightning (1.00 = no cost).
Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time

METHODS = ("bp", "fa", "dfa", "bfa", "bdfa")


def _datamodule(train_size: int, device: str):
    from lightning_modules.data.vision import VisionDataModule

    dm = VisionDataModule("synthetic", root=tempfile.gettempdir(), download=False, batch_size=128,
                          val_size=128, input_shape=(1, 28, 28), num_classes=10,
                          synthetic_sizes=(train_size + 128, 256))
    dm.setup("fit")
    return dm


def _module(method: str):
    import torch

    from lightning_modules.bidirectional_bp import BidirectionalBPModule

    return BidirectionalBPModule(functools.partial(torch.optim.SGD, lr=0.1), (1, 28, 28), 10, method=method,
                                 log_alignment=False, test_every_epoch=False)


def lightning_rates(method: str, dm, epochs: int, device: str) -> list[float]:
    import lightning as L

    module = _module(method)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        accelerator="gpu" if device == "cuda" else "cpu", devices=1)
    trainer.fit(module, train_dataloaders=dm.train_dataloader())
    return module.epoch_rates


def plain_rates(method: str, dm, epochs: int, device: str) -> list[float]:
    import torch

    from lightning_modules.bidirectional_bp import rules

    module = _module(method).to(device)
    net, batches = module.net, dm.train_dataloader()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rates = []
    with torch.no_grad():
        for _ in range(epochs):
            loss_sum = torch.zeros((), device=device)
            wrong = torch.zeros((), device=device)
            n, t0 = 0, time.perf_counter()
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                loss, cache, _, grads = rules.train_step(method, net, x, y)
                for (gw, gb), w, b in zip(grads, net.weights, net.biases):
                    w.grad, b.grad = gw, gb
                opt.step()
                loss_sum += loss * len(y)
                wrong += (cache.logits.argmax(1) != y).sum()
                n += len(y)
            if device == "cuda":
                torch.cuda.synchronize()
            rates.append(n / (time.perf_counter() - t0))
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement; the first is a warm-up")
    parser.add_argument("--train-size", type=int, default=12800, help="training rows per epoch (100 batches)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first one is a warm-up)")

    import logging

    import torch

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dm = _datamodule(args.train_size, args.device)
    rows = []
    for method in args.methods:
        lit = statistics.median(lightning_rates(method, dm, args.epochs, args.device)[1:])
        plain = statistics.median(plain_rates(method, dm, args.epochs, args.device)[1:])
        rows.append((method, lit, plain, plain / lit))
        print(f"  {method}: lightning {lit:,.0f}/s, plain {plain:,.0f}/s", file=sys.stderr, flush=True)

    print(f"MNIST net 784-800-800-10 tanh, batch 128, {args.train_size} synthetic rows/epoch, "
          f"{args.epochs} epochs (first = warm-up), device {args.device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':<8}{'lightning samples/s':>22}{'plain samples/s':>18}{'overhead':>10}")
    for method, lit, plain, ratio in rows:
        print(f"{method:<8}{lit:>22,.0f}{plain:>18,.0f}{ratio:>10.2f}")
    print("median over the measured epochs; overhead = plain / lightning (1.00 = the frame costs nothing)")
    print("command: python -m reproduce.bench.bidirectional_bp " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
