"""The GPU check: the whole test suite under CuPy, then the step benchmarks against PyTorch on CUDA.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--repeats 10]

One command, about five minutes on one GPU. It runs
  1. `MINIDNI_BACKEND=cupy MINIDNI_QUICK=1 python -m pytest` (the notebooks too, where nbmake is
     installed) and records its closing line;
  2. benchmarks/step_time.py at the CPU benchmark's sizes (MLP 784-256-256-256-10 and the
     conv net) and with a 4x wider MLP (hidden 1024), and benchmarks/lstm_step.py, all with
     MINIDNI_BACKEND=cupy, so minidni runs on CuPy and PyTorch on CUDA;
and writes everything to one JSON file. Where CuPy or a GPU is missing it says so and exits 0.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def gpu_missing():
    """Why the CuPy backend cannot run here, or None."""
    sys.path.insert(0, ROOT)
    from minidni import backend
    from minidni.errors import BackendError
    try:
        backend.set_backend("cupy")
    except BackendError as e:
        return str(e)
    return None


def run(command, env, timeout):
    start = time.perf_counter()
    try:
        job = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        code, out = job.returncode, job.stdout + job.stderr
    except subprocess.TimeoutExpired as e:
        code, out = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return {"command": " ".join(command), "returncode": code, "seconds": round(time.perf_counter() - start, 1),
            "tail": out[-3000:]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="gpu_check.json", help="where the JSON goes")
    ap.add_argument("--repeats", type=int, default=10, help="benchmark rounds (median)")
    ap.add_argument("--skip-tests", action="store_true", help="only the benchmarks")
    args = ap.parse_args(argv)
    missing = gpu_missing()
    if missing:
        print(f"gpu_check: skipped: {missing}")
        return 0
    env = dict(os.environ, MINIDNI_BACKEND="cupy", MINIDNI_QUICK="1")
    report = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        report["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        report["cupy"] = cupy.__version__
    except Exception as e:  # the name is for the record only
        report["gpu"] = f"unknown ({e})"
    if not args.skip_tests:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        if importlib.util.find_spec("nbmake") is None:       # no notebooks without nbmake
            command += ["-o", "addopts=-ra", "tests"]
            report["notebooks"] = "not run: nbmake is not installed"
        report["tests"] = run(command, env, timeout=300)
        print("tests:", report["tests"]["tail"].strip().splitlines()[-1] if report["tests"]["tail"].strip() else "?")
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, extra in (("step_time", "step_time.py", []), ("step_time_wide", "step_time.py", ["--hidden", "1024"]),
                                    ("lstm_step", "lstm_step.py", [])):
            path = os.path.join(tmp, name + ".json")
            report[name] = run([sys.executable, os.path.join(HERE, script), "--repeats", str(args.repeats),
                                "--json", path, *extra], env, timeout=240)
            if os.path.exists(path):
                with open(path) as f:
                    report[name]["result"] = json.load(f)
            print(f"{name}: exit {report[name]['returncode']} in {report[name]['seconds']} s")
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    wide = report["step_time_wide"].get("result", {}).get("mlp", {})
    if "minidni_over_torch" in wide:
        print(f"wide MLP step, CuPy / PyTorch CUDA: {wide['minidni_over_torch']:.2f} (goal <= 1.5)")
    print(f"wrote {args.out}")
    failed = report.get("tests", {}).get("returncode", 0) not in (0,) or any(
        report[k]["returncode"] != 0 for k in ("step_time", "step_time_wide", "lstm_step"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
