"""The package a student installs: minidni without the reference solutions, at DIR/package.

`python -m minidni course release DIR` writes it with `build(DIR / "package")`; a student runs
`python -m pip install DIR/package`. It is a copy of the installed minidni source tree
(Path(minidni.__file__).parent, no __pycache__) with a setup.cfg whose name, version,
python_requires and install_requires are read from the repository's setup.cfg, without the
instructor's tools (INSTRUCTORS: course/release.py and this module), and with these changes:

- course/solutions.py becomes `withheld_solutions(...)` of itself: the same public names, each
  function's docstring and body replaced by a line and WITHHELD (the notebook states the task), and
  CONCEPT_ANSWERS and CONCEPT_WHY empty. It is generated with `ast`, so a new exercise needs no edit here.
- course/exercises.py keeps only each exercise's outputs, and course/hints.py nothing: the cases and
  the mistakes (sealed) are in the data file, and a mistake's formula is most of an answer.
- The library code an exercise asks for (WITHHELD_CODE: Linear.backward for linear_backward, ...) is
  replaced by a call to the student's own answer, `yours(name)` (minidni.course.yours), which
  check() saves when it passes; course/yours.py gets STUDENT_RELEASE = True and WHERE, each
  exercise's piece and notebook, for the message of a piece that runs before its exercise is done.
  The exercises of NOT_IN_THE_LIBRARY are answered by no library code, and the table says why.

In student mode (minidni.course.checker: the data file beside the notebooks) `check` compares
with the data file and never calls the solutions, so the stubs cost the student nothing;
tests/test_course_kit.py runs the notebooks' checks and a training run against this package.
"""
import ast
import configparser
import shutil
from pathlib import Path

from .exercises import ARRAY_EXERCISES, VALUE_EXERCISES
from .files import REPOSITORY

PACKAGE = REPOSITORY / "minidni"                       # the installed minidni: Path(minidni.__file__).parent
SETUP_CFG = REPOSITORY / "setup.cfg"
PYPROJECT = REPOSITORY / "pyproject.toml"
SOLUTIONS = Path("minidni") / "course" / "solutions.py"
EXERCISES, HINTS = SOLUTIONS.with_name("exercises.py"), SOLUTIONS.with_name("hints.py")
TUTORIALS = REPOSITORY / "tutorials"
INSTRUCTORS = ("release.py", "student_package.py")    # course/: the instructor's tools, left out (this file holds
                                                      # the library's withheld texts); `course release` says so
STUDENT_RELEASE_LINE = "STUDENT_RELEASE = False "      # in course/yours.py; the package's says True
WHERE_LINE = "WHERE = {} "
WITHHELD = 'raise NotImplementedError("withheld in the student release")'
EMPTIED = ("CONCEPT_ANSWERS", "CONCEPT_WHY")            # the concept questions' answers, and reasons that give them
NOTE = ("Student release: every answer below is withheld (each function raises NotImplementedError;\n"
        "CONCEPT_ANSWERS and CONCEPT_WHY are empty). The checker reads minidni_course_expected.json instead.\n")

YOURS = "from minidni.course.yours import yours"       # the import each withheld piece makes where it runs
YOUR_LOG_SOFTMAX = f"""        {YOURS}
        with np.errstate(divide="ignore"):                   # log 0 = -inf where a probability underflows
            log_p = xp.log(yours("stable_softmax", like=z)(z))
"""                                                            # both softmax cross-entropies' forward

# The library code the exercises ask for, withheld: (exercise, file under minidni/, the piece, [(the library's
# text, what replaces it)]). Each text must occur exactly once in its file (build says which one no longer does). What
# replaces it calls yours(exercise), the student's own answer (minidni.course.yours): CS231n's layers.py.
# Docstrings that state an answer's formula go too. The other exercises are not answered by the library:
# NOT_IN_THE_LIBRARY says why, for each.
WITHHELD_CODE = [
    ("linear_backward", "nn/linear.py", "Linear.backward", [(
        """        self.grads["W"] = self.x.T @ dy       # (D_in, N) @ (N, D_out)
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T if self.input_grad else None   # (N, D_out) @ (D_out, D_in)
""",
        f"""        {YOURS}
        dx, self.grads["W"], self.grads["b"] = yours("linear_backward", like=dy)(self.x, self.params["W"], dy)
        return dx if self.input_grad else None
""")]),
    ("linear_backward", "nn/recurrent.py", "the recurrent layers' weight gradients", [(
        """        self.grads["W_x"] = self.x.reshape(T * N, -1).T @ dz2
        self.grads["W_h"] = h_prev.reshape(T * N, -1).T @ dz2
        self.grads["b"] = dz2.sum(axis=0)
        return (dz2 @ self.params["W_x"].T).reshape(T, N, -1) if self.input_grad else None
""",
        f"""        {YOURS}
        linear_backward = yours("linear_backward", like=dz2)              # z = x W_x + h_prev W_h + b
        dx, self.grads["W_x"], db = linear_backward(self.x.reshape(T * N, -1), self.params["W_x"], dz2)
        _, self.grads["W_h"], _ = linear_backward(h_prev.reshape(T * N, -1), self.params["W_h"], dz2)
        self.grads["b"] = db
        return dx.reshape(T, N, -1) if self.input_grad else None
""")]),
    ("linear_backward", "nn/conv.py", "Conv2d.backward", [(
        """        # dW = dy cols^T, computed as (cols dy^T)^T: the same sum, and OpenBLAS runs this orientation faster
        self.grads["W"] = (cols @ dy.T).T.reshape(W.shape)              # ((C*kh*kw, Ho*Wo*N) @ (Ho*Wo*N, F))^T
        self.grads["b"] = dy.sum(axis=1)
        if not self.input_grad:
            return None
        dcols = W.reshape(F, -1).T @ dy                                 # (C*kh*kw, F) @ (F, Ho*Wo*N)
""",
        f"""        {YOURS}
        dcols_t, dW_t, self.grads["b"] = yours("linear_backward", like=dy)(cols.T, W.reshape(F, -1).T, dy.T)   # y^T = cols^T W^T
        self.grads["W"] = dW_t.T.reshape(W.shape)
        if not self.input_grad:
            return None
        dcols = dcols_t.T
""")]),
    ("relu_backward", "nn/activations.py", "ReLU's forward and backward", [
        ('    """h = max(x, 0);  dx = dy * [x > 0]."""', '    """h = max(x, 0); its backward is your relu_backward."""'),
        ("""        h = array_module(x).maximum(x, 0)     # one fast pass; x * (x > 0) casts the mask to float first
        self.mask = h > 0
        return h

    def backward(self, dy):
        return dy * self.mask
""",
         f"""        self.x = x
        return array_module(x).maximum(x, 0)

    def backward(self, dy):
        {YOURS}
        return yours("relu_backward", like=dy)(self.x, dy)
""")]),
    ("relative_error", "gradcheck.py", "gradcheck.rel_error", [(
        """    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0
""",
        f"""    {YOURS}
    return float(yours("relative_error")(a, b))
""")]),
    ("stable_softmax", "losses.py", "SoftmaxCrossEntropy.forward", [
        ("from .backend import array_module\n", "import numpy as np\n\nfrom .backend import array_module\n"), (
        """        shifted = z - z.max(axis=1, keepdims=True)          # stable: exp never overflows
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
""",
        YOUR_LOG_SOFTMAX)]),
    ("stable_softmax", "train/tbptt.py", "SequenceCrossEntropy.forward", [(
        """        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
""",
        YOUR_LOG_SOFTMAX)]),
    ("softmax_cross_entropy_backward", "losses.py", "SoftmaxCrossEntropy.backward", [
        ("    backward() -> dz = (softmax(z) - onehot(y)) / N, shape (N, C).",
         "    backward() -> dz = dL/dz: (N, C), your softmax_cross_entropy_backward."),
        ("""        xp = array_module(self.log_p)
        dz = xp.exp(self.log_p)
        dz[xp.arange(len(self.y)), self.y] -= 1
        return dz / len(self.y)
""",
         f"""        {YOURS}
        return yours("softmax_cross_entropy_backward", like=self.log_p)(self.log_p.copy(), self.y.copy())
""")]),
    ("softmax_cross_entropy_backward", "train/tbptt.py", "SequenceCrossEntropy.backward", [
        ("    backward() -> dlogits: (T, N, V) = mask (softmax - onehot) / N.\n", "    backward() -> dlogits: (T, N, V).\n"),
        ('        """dlogits: (T, N, V) = mask (softmax - onehot) / N."""',
         '        """dlogits: (T, N, V): your softmax_cross_entropy_backward, masked."""'),
        ("""        d = xp.exp(self.log_p)
        d[xp.arange(len(self.y)), self.y] -= 1
""",
         f"""        {YOURS}
        d = yours("softmax_cross_entropy_backward", like=self.log_p)(self.log_p.copy(), self.y.copy()) * len(self.y)
""")]),
    ("m_loss_and_grad", "train/tbptt.py", "TBPTT's auxiliary task", [(
        """        self.aux_loss = self.aux_weight * (diff * diff).sum() / (Tw * n)      # sum over units
        return self.aux.backward(self.aux_weight * 2 * diff / (Tw * n)).reshape(Tw, n, H)
""",
        f"""        {YOURS}
        loss, d_pred = yours("m_loss_and_grad", like=diff)(diff, 0 * diff)   # the paper's L2 of diff against 0
        self.aux_loss = self.aux_weight * loss
        return self.aux.backward(self.aux_weight * d_pred).reshape(Tw, n, H)
""")]),
    ("update_wait", "experiments/locking.py", "experiments.locking.waiting_intervals", [(
        """    forward_end, out = {}, {}
    for e in events_of(trace_or_events, steps):
        if e.kind == "forward":
            forward_end[e.module, e.step] = e.end
        elif e.kind == "update" and (e.module, e.step) in forward_end:
            out[e.module, e.step] = (forward_end[e.module, e.step], e.start)
    return out
""",
        f"""    {YOURS}
    by_step = {{}}                                             # step -> its events, in order
    for e in events_of(trace_or_events, steps):
        by_step.setdefault(e.step, []).append(e)
    wait = yours("update_wait")
    return {{(e.module, e.step): (e.start - wait(one, e.module), e.start)
            for one in by_step.values() for e in one if e.kind == "update"}}
""")]),
    ("cosine", "synthetic.py", "synthetic.gradient_agreement", [
        ("    cos = <g_hat, delta> / (|g_hat| |delta|) (0 where either is 0),",
         "    the cosine of the two (your cosine; 0 where either is 0),"),
        ("""    gd, gg, dd = (float(to_numpy((a * b).sum())) for a, b in ((g_hat, delta), (g_hat, g_hat), (delta, delta)))
    return {"cosine": gd / math.sqrt(gg * dd) if gg > 0 and dd > 0 else 0.0,
            "relative_error": math.sqrt(max(gg - 2 * gd + dd, 0.0) / dd) if dd > 0 else 0.0}""",
         f"""    {YOURS}
    gg, dd, ee = (float(to_numpy((a * a).sum())) for a in (g_hat, delta, g_hat - delta))
    return {{"cosine": float(yours("cosine")(g_hat, delta)) if gg > 0 and dd > 0 else 0.0,
            "relative_error": math.sqrt(ee / dd) if dd > 0 else 0.0}}""")]),
    ("cdni_prediction", "synthetic.py", "SyntheticModel.forward", [(
        """            bias = self.V[c]                                  # (N, width): one learned vector per class
""",
        f"""            {YOURS}
            xp, width = array_module(a), self.V.shape[1]          # your cdni_prediction with h = 0, W = I, b = 0
            bias = yours("cdni_prediction", like=a)(xp.zeros((len(c), width), a.dtype), c, xp.eye(width, dtype=a.dtype),
                                                    self.V, xp.zeros(width, a.dtype))
""")]),
    ("tick_targets", "data/streams.py", "DigitStreams.batch", [(
        """        odd = (y_step % 2).cumsum(axis=0)                               # odd digits up to and including t
        ends = np.arange(self.K - 1, self.steps, self.K)                # the steps at which B ticks
        before = np.where(ends[:, None] >= self.window, odd[np.maximum(ends - self.window, 0)], 0)
        y_tick = odd[ends] - before                                     # odd digits in (t - span K, t]
""",
        f"""        {YOURS}
        y_tick = np.asarray(yours("tick_targets")(y_step, self.K, self.window // self.K))
""")]),
]

# The exercises no library code answers, and why. An exercise is in WITHHELD_CODE or here (tests/test_course_kit.py).
NOT_IN_THE_LIBRARY = {
    "backprop_schedule": "reads Backprop.step, which 01 prints, into the events it runs: the code is the question",
    "stochastic_schedule": "reads DNI.step, which 04 prints, into the events of one step with update_prob < 1",
    "window_bounds": "reads TBPTT.sequence, which 06 prints just before, into the windows it cuts",
    "input_model_grads": "the paper's L2 for I (a sample's squared norm, batch-averaged); Regressor.fit composes "
                         "minidni's MSE, a mean over all N x D entries (a factor D apart), and Linear.backward",
    "dni_step": "one DNI step in arrays; DNI.step composes module methods, whose arithmetic is withheld above",
    "choose_on_validation": "the experiments' reasoning, written out",
    "window_backward": "a scalar linear core; the library's recurrent cores are an LSTM and a tanh RNN",
    "constant_guess_error": "a binomial's mode; the library computes no baseline",
}


def withheld_solutions(source):
    """The source of solutions.py (`source`) with every answer withheld: each top-level function keeps
    its signature and raises NotImplementedError; CONCEPT_ANSWERS and CONCEPT_WHY are {}.

    Docstrings go (the notebook's stub states the task; several of these state the answer's formula),
    and so do comments (ast keeps none).
    """
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            task = f"Withheld in the student release: exercise {node.name}, whose notebook states the task."
            node.body = [ast.Expr(ast.Constant(task))] + ast.parse(WITHHELD).body
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) in EMPTIED for t in node.targets):
            node.value = ast.Dict(keys=[], values=[])
    tree.body[:1 if ast.get_docstring(tree) is not None else 0] = [ast.Expr(ast.Constant(NOTE))]
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


def exercises_without_inputs():
    """course/exercises.py of the student package: each exercise's name and outputs, which the checker needs.
    Not its inputs: their generators compute answers (update_wait's made-up steps run a DNI schedule)."""
    arrays = {name: (outputs, []) for name, (outputs, _) in ARRAY_EXERCISES.items()}
    return (f'"""Student release: the exercises\' names and outputs; their inputs, expected outputs and the mistakes '
            f'the hints name are in the data file, minidni_course_expected.json."""\n'
            f"ARRAY_EXERCISES = {arrays!r}\nVALUE_EXERCISES = {dict.fromkeys(VALUE_EXERCISES)!r}\n")


HINTS_WITHHELD = ('"""Student release: the hints and the mistakes they name are in the data file (a mistake\'s formula '
                  'is most of an answer)."""\nARRAY_HINTS = {}\nVALUE_HINTS = {}\n')


def notebooks_of(names):
    """{name: the tutorial whose exercise cell defines it (its file name without .ipynb)}, each tutorial read once."""
    texts = {p.stem: p.read_text() for p in sorted(TUTORIALS.glob("*.ipynb"))}
    return {name: next((stem for stem, text in texts.items() if f'"def {name}(' in text), "its notebook")
            for name in names}


def withhold_code(package):
    """Replace each text of WITHHELD_CODE in `package` (a copy of minidni) and fill in its course/yours.py."""
    for name, file, _, replacements in WITHHELD_CODE:
        _replace_once(package / file, replacements, f"student_package.WITHHELD_CODE ({name})")
    notebooks = notebooks_of({name for name, *_ in WITHHELD_CODE})
    where = {}
    for name, _, piece, _ in WITHHELD_CODE:
        where.setdefault(name, (piece, notebooks[name]))
    flags = [(STUDENT_RELEASE_LINE, STUDENT_RELEASE_LINE.replace("False", "True")),
             (WHERE_LINE, WHERE_LINE.replace("{}", repr(where)))]
    _replace_once(package / "course" / "yours.py", flags, "student_package's lines of course/yours.py")


def _replace_once(path, replacements, who):
    """Replace each (old, new) of `replacements` in the file at `path`; raise RuntimeError where `old` does not
    occur exactly once there (the library changed: `who` must follow it)."""
    text = path.read_text()
    for old, new in replacements:
        if text.count(old) != 1:
            raise RuntimeError(f"{who}: {path} holds {text.count(old)} copies of the text to replace, not 1; "
                               f"update {who} to the library:\n{old}")
        text = text.replace(old, new)
    path.write_text(text)


def build(out):
    """Write the student package to `out` (DIR/package), replacing what was there. Returns `out`."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(PACKAGE, out / "minidni", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *INSTRUCTORS))
    (out / SOLUTIONS).write_text(withheld_solutions((REPOSITORY / SOLUTIONS).read_text()))
    (out / EXERCISES).write_text(exercises_without_inputs())
    (out / HINTS).write_text(HINTS_WITHHELD)
    withhold_code(out / "minidni")
    with open(out / "setup.cfg", "w") as f:
        _setup_cfg().write(f)
    shutil.copy(PYPROJECT, out / "pyproject.toml")     # the build system: setuptools
    return out
