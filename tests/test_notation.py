"""One notation, the paper's: the spellings retired for it appear nowhere in the code, docs or notebooks.

The paper's names: modules f_1 ... f_L, h_i = f_i(h_{i-1}), g_hat_i = M_{i+1}(h_i) ~ delta_i =
dL/dh_i, I_{i+1}(x) ~ h_i. In code the models are dicts keyed by the paper's index (DNI.M[i + 1],
DNI.I[i + 1]) and DNI's options are named as SGOptions declares them (minidni.train.dni).
"""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# retired spelling (a regular expression) -> what replaced it
RETIRED = {
    r"\bsgs\b": "DNI.M, a dict keyed by the paper's index: M[i + 1] sits on h_i",
    r"\binput_models\b": "DNI.I, a dict keyed by the paper's index: I[i + 1] predicts h_i",
    r"\bsg_kind\b": "the option sg (SGOptions.sg)",
    r"\bsynthetic_inputs\b": "the option complete_unlock (SGOptions.complete_unlock)",
    r"M_i\(h_i\)": "g_hat_i = M_{i+1}(h_i): the model on h_i is M_{i+1}",
    r"M_k for f_k": "M_{i+1} sits on h_i, the output of f_i",
    r"\.M_[AB]\b": "MultinetTrainer.M, a dict: M['A'], M['B']",
    r"\bstage\.sg\b": "Stage.M",
    r"delta_hat|δ̂": "g_hat: the synthetic gradient (delta is the true one)",
}

# (file, retired spelling): where an old name must stay, and why
ALLOWED = {
    ("benchmarks/same_bits.py", r"\bsgs\b"): "it reads revisions from before the rename, which hold DNI.sgs",
}


def _files():
    for folder in ("minidni", "tests", "docs", "tutorials", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".md", ".ipynb") and path.name != "test_notation.py":
                yield path
    yield ROOT / "README.md"


@pytest.mark.parametrize("pattern", RETIRED)
def test_no_retired_spelling_is_left(pattern):
    found = []
    for path in _files():
        name = path.relative_to(ROOT).as_posix()
        if (name, pattern) in ALLOWED:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not found, f"retired spelling {pattern!r} (now: {RETIRED[pattern]}) found:\n" + "\n".join(found)


def test_the_check_sees_a_retired_spelling():
    """The search is not vacuous: a line with an old name is caught."""
    assert re.search(r"\bsgs\b", "for sg in trainer.sgs:")
    assert any(path.name == "dni.py" for path in _files())
