"""`python -m minidni train`: train one network (per seed) and report its test error.

    python -m minidni train --method cdni --layers 4 --epochs 20
    python -m minidni train --method dni --seed 0 1 2 --json runs/dni.json
    python -m minidni train --method dni --complete-unlock --save ckpt.npz
"""
import numpy as np

from ..checkpoint import save
from ..errors import UserError
from ..experiments.feedforward import Interrupted, TrainConfig, train
from .common import (add_command, add_config_options, add_runtime_options, check_outputs, config_from_args,
                     fallback_file, keep_interrupted, runtime, write_all, write_json)


def register(subparsers):
    """Add `train` to the subcommands: TrainConfig's options (several --seed), --json, --save, runtime."""
    p = add_command(subparsers, "train", "train one network and report its test error", __doc__)
    add_config_options(p, TrainConfig, many=("seed",))
    p.add_argument("--json", metavar="PATH", help="write the result with its per-epoch history (a list for "
                                                  "several seeds)")
    p.add_argument("--save", metavar="PATH", help="save parameters and optimiser state (.npz; one seed)")
    add_runtime_options(p)
    p.set_defaults(func=main)


def epoch_line(record):
    valid = f"validation error {record['valid_error']:.2f}%  " if "valid_error" in record else ""
    return (f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}  {valid}"
            f"test error {record['test_error']:.2f}%  ({record['seconds']:.1f}s)")


def main(args):
    """Train one network per --seed, printing each epoch and result (mean ± std over several seeds);
    --json writes the result(s), --save the one seed's parameters and optimiser state. Returns 0
    (130 after Ctrl-C, which keeps the runs so far: see interrupted)."""
    configs = [config_from_args(TrainConfig, args, seed=s).check() for s in args.seed]
    if args.save and len(configs) > 1:
        raise UserError(f"--save takes one --seed, got {len(configs)}")
    check_outputs(files=[("--json", args.json), ("--save", args.save)])
    results = []
    with runtime(args):
        for config in configs:
            progress = None if args.quiet else (lambda record: print(epoch_line(record), flush=True))
            try:
                trainer, result = train(config, progress)
            except Interrupted as stop:
                return interrupted(args, config, results + [stop.result], stop.trainer)
            results.append(result)
            print(f"{config.method} {config.model} on {config.dataset}, seed {config.seed}: "
                  f"test error {result['test_error']:.2f}% in {result['seconds']:.1f}s")
    if len(results) > 1:
        errors = [r["test_error"] for r in results]
        print(f"test error over {len(errors)} seeds: {np.mean(errors):.2f} ± {np.std(errors):.2f}%")
    write_all(lambda: args.json and write_json(args.json, results[0] if len(results) == 1 else results),
              lambda: args.save and save_weights(args.save, trainer, config))
    return 0


def interrupted(args, config, results, trainer):
    """Ctrl-C: the finished seeds and the interrupted one's history so far to --json (else a fallback
    file), its weights to --save; one line saying what was kept where. Returns 130."""
    failed = None
    if args.save:
        try:
            save_weights(args.save, trainer, config)
        except UserError as e:                  # the weights are in the fallback file it names
            failed = e
    last = results[-1]
    code = keep_interrupted(args.json, results[0] if len(results) == 1 else results,
                            f"seed {config.seed}, epoch {last['epoch']} of {config.epochs} (step {last['step']})",
                            None if failed else args.save)
    if failed:
        raise failed
    return code


def save_weights(path, trainer, config):
    """--save: parameters and optimiser state; if the write fails, they go to a fallback file that the
    UserError names (nothing is lost)."""
    def write(name):
        save(name, trainer.model, trainer.optimizers,
             meta={"method": config.method, "model": config.model, "dataset": config.dataset})
    try:
        write(path)
    except OSError as e:
        kept = fallback_file(write, ".npz")
        raise UserError(f"cannot write {path} ({e.strerror or e}); the weights were kept in {kept}") from None
