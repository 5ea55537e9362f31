"""`python -m minidni demo`: backprop, DNI and cDNI on the embedded digits, side by side.

    python -m minidni demo --epochs 10 --figure demo.png
"""
from ..experiments import CompareConfig, run
from .common import add_command, add_runtime_options, runtime


def register(subparsers):
    """Add `demo` to the subcommands: --epochs, --figure and the runtime options."""
    p = add_command(subparsers, "demo", "backprop vs DNI vs cDNI on the embedded digits; prints a table", __doc__)
    p.add_argument("--epochs", type=int, default=10, help="passes over the training images")
    p.add_argument("--figure", metavar="PNG", help="also save the test-error curves here")
    add_runtime_options(p, quiet=False)
    p.set_defaults(func=main)


def main(args):
    """Train backprop, DNI and cDNI (4-layer MLP, seed 0); print each epoch, save --figure if given. Returns 0."""
    config = CompareConfig(layers=[4], seed=[0], epochs=args.epochs).check()
    with runtime(args):
        results = run(config)
    print(f"4-layer MLP on the embedded digits, {args.epochs} epochs, seed 0 (every layer decoupled for dni/cdni)")
    print(f"{'method':9} {'epoch':>5} {'train loss':>10} {'test error':>10} {'seconds':>8}")
    for r in results:
        for h in r["history"]:
            print(f"{r['method']:9} {h['epoch']:5d} {h['train_loss']:10.4f} {h['test_error']:9.2f}% "
                  f"{h['seconds']:8.2f}")
    if args.figure:
        # lazy: matplotlib takes ~0.5 s to import; `minidni --help` needs none
        from ..plots.training import plot_error_curves
        plot_error_curves(results, args.figure)
        print(f"figure: {args.figure}")
    return 0
