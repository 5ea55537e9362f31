"""Decoupled (DNI) against locked (model-parallel backprop) training on 2 MPI ranks.

    python benchmarks/parallel_throughput.py [--repeats 5] [--steps 40] [--time-limit 20] [--optimizer sgd] [--json out.json]

The network: the embedded digits through a 15-layer MLP, 512 units per hidden layer,
batch 256, cut into two stages balanced for the decoupled pipeline (the first stage also
runs the synthetic-gradient model M, so it gets one hidden layer less). Each message is
a 256 x 512 float32 activation (0.5 MB), a fraction of a millisecond on one machine
against ~0.2 s of compute per stage and step: compute dominates.

Prints, each a median over `repeats` interleaved runs of `steps` steps (the first 3 left
out as warm-up), every rank on one BLAS thread:
  throughput         samples per second of each method, and decoupled / locked (goal >= 1.6)
  ideal ratio        from the measured per-stage work per step: locked runs the stages one
                     after the other (sum of their work), decoupled at the pace of the slowest
                     stage, SG work included (max); measured / ideal (goal >= 0.9)
  simulator          minidni.simulate's prediction from those per-stage times and the
                     measured message time, against the measured seconds per step
and, from one run of each method for `time_limit` seconds of training, the test
accuracy each reached in the same wall-clock time. The machine's load average is
recorded too: other processes on the same cores slow the decoupled run (two busy ranks)
more than the locked one (one busy rank at a time).
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minidni.parallel.mpi import launch  # noqa: E402
from minidni.simulate import StageTimes, simulate  # noqa: E402

NETWORK = ["--layers", "15", "--hidden", "512", "--batch-size", "256"]
QUICK = ["--layers", "5", "--hidden", "128", "--batch-size", "64"]
METHODS = ("dni", "locked")


def ideal_ratio(locked, dni):
    """Locked step = sum of its stages' work; decoupled step = its slowest stage's work."""
    return sum(s["work_per_step"] for s in locked["per_stage"]) / max(s["work_per_step"] for s in dni["per_stage"])


def simulated_step(result):
    stages = [StageTimes.from_work(s["work"]) for s in result["per_stage"]]
    return simulate(stages, result["message_seconds"], result["method"], max_lag=result["max_lag"])["step_seconds"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds of training for the accuracy runs")
    p.add_argument("--quick", action="store_true", help="a small network: checks the script, not the claim")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="sgd",
                   help="the stages' and Ms' optimiser (default sgd: momentum 0.9, lr 0.01). Adam's update is "
                        "a dozen passes over every weight, which a locked rank overlaps with its neighbour's "
                        "work, so the locked step falls below the sum of the stages' work the ideal assumes")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    network = QUICK if args.quick else NETWORK
    if args.optimizer == "sgd":
        network = network + ["--optimizer", "sgd", "--sg-optimizer", "sgd", "--lr", "0.01"]

    runs = {m: [] for m in METHODS}
    for r in range(args.repeats):
        for method in METHODS[r % 2:] + METHODS[:r % 2]:          # alternate which method goes first
            load = os.getloadavg()[0]
            result, _ = launch(2, ["--method", method, *network, "--steps", str(args.steps), "--eval", "end"])
            result["load_before"] = load
            runs[method].append(result)
            print(f"run {r + 1}/{args.repeats} {method:6}: {result['throughput']:7.1f} samples/s, "
                  f"stage work {[round(1e3 * s['work_per_step'], 1) for s in result['per_stage']]} ms/step, "
                  f"load {load:.2f}", flush=True)

    def median(method, key):
        return statistics.median(r[key] for r in runs[method])

    throughput = {m: median(m, "throughput") for m in METHODS}
    ratios = [d["throughput"] / l["throughput"] for d, l in zip(runs["dni"], runs["locked"])]
    ideals = [ideal_ratio(l, d) for d, l in zip(runs["dni"], runs["locked"])]
    ratio, ideal = throughput["dni"] / throughput["locked"], statistics.median(ideals)
    simulator = {m: {"measured_step_seconds": median(m, "step_seconds"),
                     "simulated_step_seconds": statistics.median(simulated_step(r) for r in runs[m])} for m in METHODS}
    work = {m: [statistics.median(r["per_stage"][k]["work_per_step"] for r in runs[m]) for k in range(2)]
            for m in METHODS}

    accuracy = {}
    for method in METHODS:
        result, _ = launch(2, ["--method", method, *network, "--epochs", "100000", "--time-limit",
                               str(args.time_limit), "--eval", "end"])
        accuracy[method] = {k: result[k] for k in ("test_accuracy", "steps", "samples", "seconds")}

    d = runs["dni"][0]
    report = {"network": " ".join(network), "split": d["split"], "steps": args.steps, "repeats": args.repeats,
              "message_seconds": statistics.median(r["message_seconds"] for r in runs["dni"]),
              "throughput": throughput, "ratio": ratio, "ratio_per_repeat": ratios,
              "ideal_ratio": ideal, "ideal_ratio_per_repeat": ideals, "fraction_of_ideal": ratio / ideal,
              "stage_work_per_step": work, "simulator": simulator,
              "staleness_stage0": runs["dni"][0]["per_stage"][0]["staleness"],
              "accuracy_at_equal_time": {"time_limit": args.time_limit, **accuracy},
              "load_average": [r["load_before"] for m in METHODS for r in runs[m]], "runs": runs}
    print(f"\nnetwork {report['network']}, split {d['split']} modules per rank, {args.steps} steps, "
          f"median of {args.repeats} interleaved runs; message {1e3 * report['message_seconds']:.2f} ms one way")
    for m in METHODS:
        print(f"  {m:6}: {throughput[m]:7.1f} samples/s, stage work {[round(1e3 * w, 1) for w in work[m]]} ms/step; "
              f"simulated step {1e3 * simulator[m]['simulated_step_seconds']:.1f} ms, "
              f"measured {1e3 * simulator[m]['measured_step_seconds']:.1f} ms")
    print(f"  decoupled / locked = {ratio:.2f} (goal >= 1.6); ideal from per-stage work {ideal:.2f}; "
          f"measured / ideal = {ratio / ideal:.2f} (goal >= 0.9)")
    print(f"  test accuracy after {args.time_limit:.0f} s of training: " + ", ".join(
        f"{m} {100 * a['test_accuracy']:.2f}% ({a['steps']} steps)" for m, a in accuracy.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
