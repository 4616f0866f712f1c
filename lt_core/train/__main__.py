"""Command line: ``python -m lt_core.train`` (one process) or ``torchrun --nproc_per_node=N -m lt_core.train`` (DDP).

Examples::

    python -m lt_core.train --print-config > cfg.json           # the defaults, to edit
    python -m lt_core.train --config cfg.json --set epochs=3 --set model_options.use_confidences=false
    python -m lt_core.train --config cfg.json --resume auto     # continue runs/<name>/last.pt if present
    torchrun --nproc_per_node=2 -m lt_core.train --config cfg.json --set device=cpu
    python -m lt_core.train --evaluate runs/alg/last.pt --set val_split=val   # tables of a trained model
"""

from __future__ import annotations

import argparse
import json
import sys

from lt_core.train.config import TrainConfig, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lt_core.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", help="JSON file with (some) TrainConfig fields")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field (value parsed as JSON, else string); dict fields: key.sub=value",
    )
    p.add_argument("--resume", help="'auto' or a checkpoint path (same as --set resume=...)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    p.add_argument(
        "--evaluate",
        metavar="CHECKPOINT",
        help="evaluate a trained checkpoint on val_split and print the per-action table",
    )
    p.add_argument("--exclude-damaged", action="store_true", help="with --evaluate: Human3.6M absolute-table filter")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = list(args.overrides) + ([f"resume={args.resume}"] if args.resume else [])
    cfg = load_config(args.config, overrides)
    if args.print_config:
        print(cfg.to_json())
        return 0
    if args.evaluate:
        return _evaluate(args.evaluate, cfg, args.exclude_damaged)

    from lt_core.train.distributed import cleanup_distributed, init_distributed
    from lt_core.train.loop import Trainer

    env = init_distributed(cfg.device)
    finished = False
    try:
        result = Trainer(cfg, env=env).fit()
        if env.is_main:
            print(json.dumps(result, default=str))
        finished = True
    finally:
        cleanup_distributed(barrier=finished)
    return 0


def _evaluate(path: str, cfg: TrainConfig, exclude_damaged: bool) -> int:
    from lt_core.train.checkpoint import load_checkpoint
    from lt_core.train.distributed import resolve_device
    from lt_core.train.evaluate import evaluate_model, load_trained_model
    from lt_core.train.factory import build_dataset

    saved = TrainConfig.from_saved(load_checkpoint(path, require=("model", "config"))["config"])
    device = resolve_device(cfg.device)
    model = load_trained_model(path, device)
    split = cfg.val_split or saved.val_split or "val"
    dataset = build_dataset(saved, split)
    _, ev = evaluate_model(
        model,
        dataset,
        exclude_damaged=exclude_damaged,
        device=device,
        batch_size=cfg.batch_size,
        max_samples=cfg.val_max_samples,
    )
    print(ev.per_action.to_string(float_format=lambda v: f"{v:.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
