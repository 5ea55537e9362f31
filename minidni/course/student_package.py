"""The package a student installs: minidni without the reference solutions, at DIR/package.

`python -m minidni course release DIR` writes it with `build(DIR / "package")`; a student runs
`python -m pip install DIR/package`. It is a copy of the installed minidni source tree
(Path(minidni.__file__).parent, no __pycache__) with a setup.cfg whose name, version,
python_requires and install_requires are read from the repository's setup.cfg, and one module
changed: course/solutions.py becomes `withheld_solutions(...)` of itself, the same public names
with each function's body replaced by WITHHELD (its docstring, which states the task, is kept)
and CONCEPT_ANSWERS and CONCEPT_WHY empty. It is generated with `ast`, so a new exercise needs
no edit here.

In student mode (minidni.course.checker: the data file beside the notebooks) `check` compares
with the data file and never calls the solutions, so the stubs cost the student nothing;
tests/test_course_kit.py runs a notebook's check against this package to show it.

What is not withheld is LIBRARY_ANSWERS: the library code some exercises ask for.
"""
import ast
import configparser
import shutil
from pathlib import Path

from .files import REPOSITORY

PACKAGE = REPOSITORY / "minidni"                       # the installed minidni: Path(minidni.__file__).parent
SETUP_CFG = REPOSITORY / "setup.cfg"
PYPROJECT = REPOSITORY / "pyproject.toml"
SOLUTIONS = Path("minidni") / "course" / "solutions.py"
WITHHELD = 'raise NotImplementedError("withheld in the student release")'
EMPTIED = ("CONCEPT_ANSWERS", "CONCEPT_WHY")            # the concept questions' answers, and reasons that give them
NOTE = ("Student release: every answer below is withheld (each function raises NotImplementedError;\n"
        "CONCEPT_ANSWERS and CONCEPT_WHY are empty). The checker reads minidni_course_expected.json instead.\n\n")

# exercise -> "module:qualname" of the library code that answers it. It ships in the student
# package because the notebooks after the exercise train (or measure) with it: withholding
# Linear.backward would stop every later notebook from training. This is the remaining gap of
# issue 30's item 1: a student who reads these can copy the answer, as from CS231n's layers.py
# once a later assignment hands it out. (window_backward, choose_on_validation and
# constant_guess_error have no library counterpart: their answers are nowhere in the release.)
LIBRARY_ANSWERS = {
    "linear_backward": "minidni.nn.linear:Linear.backward",
    "relu_backward": "minidni.nn.activations:ReLU.backward",
    "softmax_cross_entropy_backward": "minidni.losses:SoftmaxCrossEntropy.backward",
    "stable_softmax": "minidni.losses:SoftmaxCrossEntropy.forward",
    "m_loss_and_grad": "minidni.losses:MSE",                       # what M's fit, Regressor.fit, minimises
    "input_model_grads": "minidni.synthetic:Regressor.fit",
    "sg_target": "minidni.train.dni:DNI.step",                     # the d_in it fits M to
    "dni_step": "minidni.train.dni:DNI.step",
    "stochastic_schedule": "minidni.train.dni:DNI.step",           # its order, with update_prob
    "backprop_schedule": "minidni.train.backprop:Backprop.step",   # its order, as the trace records it
    "update_wait": "minidni.experiments.locking:waiting_intervals",
    "cosine": "minidni.synthetic:gradient_agreement",
    "cdni_prediction": "minidni.synthetic:SyntheticModel.forward",
    "window_bounds": "minidni.train.tbptt:TBPTT.sequence",
    "relative_error": "minidni.gradcheck:rel_error",
    "tick_targets": "minidni.data.streams:DigitStreams",
}


def withheld_solutions(source):
    """The source of solutions.py (`source`) with every answer withheld: each top-level function keeps
    its signature and docstring and raises NotImplementedError; CONCEPT_ANSWERS and CONCEPT_WHY are {}.

    Comments go too (ast keeps none): several explain the answer.
    """
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            docstring = node.body[:1] if ast.get_docstring(node) is not None else []
            node.body = docstring + ast.parse(WITHHELD).body
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) in EMPTIED for t in node.targets):
            node.value = ast.Dict(keys=[], values=[])
    module_doc = ast.get_docstring(tree, clean=False) or ""
    tree.body[:1 if module_doc else 0] = [ast.Expr(ast.Constant(NOTE + module_doc))]
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _setup_cfg():
    """The student package's setup.cfg: the repository's name, version and requirements, no extras."""
    repository = configparser.ConfigParser(interpolation=None)
    repository.read(SETUP_CFG)
    metadata, options = repository["metadata"], repository["options"]
    config = configparser.ConfigParser(interpolation=None)
    config["metadata"] = {"name": metadata["name"], "version": metadata["version"],
                          "description": metadata["description"] + " (student release: no reference solutions)"}
    config["options"] = {"packages": "find:", "python_requires": options["python_requires"],
                         "install_requires": options["install_requires"]}
    config["options.packages.find"] = {"include": "minidni*"}
    return config


def build(out):
    """Write the student package to `out` (DIR/package), replacing what was there. Returns `out`."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(PACKAGE, out / "minidni", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / SOLUTIONS).write_text(withheld_solutions((REPOSITORY / SOLUTIONS).read_text()))
    with open(out / "setup.cfg", "w") as f:
        _setup_cfg().write(f)
    shutil.copy(PYPROJECT, out / "pyproject.toml")     # the build system: setuptools
    return out
