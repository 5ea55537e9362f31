"""The course site: the tutorials, results, paper map, API and instructor guide as one static HTML book.

    python -m minidni course site DIR

Sphinx with myst-nb builds it (the configuration is docs/site/conf.py). The source directory is
the repository root, so every relative link the Markdown files and notebooks already hold
(`../figures/x.png`, `docs/paper_map.md`, `02_locking.ipynb`) resolves in the site as it does in
the repository; docs/site/ holds only the pages that arrange them, and `include_patterns` in
conf.py says which files are pages. The notebooks are rendered with their committed outputs,
never executed. The home page is DIR/index.html.

Nothing is loaded from outside DIR: MathJax 2.7 is copied from the jupyter-server-mathjax
package into DIR/_static/mathjax, and the student notebooks that each tutorial page links to
are written by `course release` into DIR/student at build time (about 15 s).

Two hooks, connected by conf.py's setup(): `api_modules` writes the API page's automodule list
from the package itself, and `link_code` turns each inline code name of a page (`DNI.step`,
`minidni/train/dni.py`) that names a documented object or module into a link to its source,
as sphinx.ext.viewcode renders it: the paper map's equations link to the lines that implement them.
"""
import pkgutil
import re
import shutil
import sys
import tempfile
from pathlib import Path

import jupyter_server_mathjax
from docutils import nodes
from sphinx.application import Sphinx

from .files import REPOSITORY
from .release import release, tutorials

CONF = REPOSITORY / "docs" / "site"
HOME = "docs/site/index"                    # the root document; DIR/index.html redirects to it
API_PAGE = "docs/site/api"
MATHJAX = Path(jupyter_server_mathjax.__file__).parent / "static"
STUDENT = "student"                         # DIR/student: the released notebooks
CODE_PATH = re.compile(r"^(minidni(?:/\w+)*)(?:\.py|/)$")
CODE_NAME = re.compile(r"^[A-Za-z_][\w.]*")
CODE_KINDS = ("class", "function", "method", "exception")   # not attributes: `x` is no link to Box.x


def build(out):
    """Build the site into `out`; returns the path of its home page, out/index.html."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        release(out / STUDENT, Path(scratch) / "course", tutorials())
        shutil.make_archive(str(out / STUDENT), "zip", out / STUDENT)
        app = Sphinx(REPOSITORY, CONF, out, Path(scratch) / "doctrees", "html", status=None, warning=sys.stderr,
                     freshenv=True)
        app.build()
    shutil.copytree(MATHJAX, out / "_static" / "mathjax", dirs_exist_ok=True)
    home = out / "index.html"
    home.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>minidni</title>'
                    f'<meta http-equiv="refresh" content="0; url={HOME}.html"></head>'
                    f'<body><a href="{HOME}.html">minidni: the course</a></body></html>\n')
    return home


def public_modules():
    """The dotted names of minidni and its modules, sorted; private ones (_x) and __main__ left out."""
    names = ["minidni"] + [m.name for m in pkgutil.walk_packages([str(REPOSITORY / "minidni")], "minidni.")]
    return sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")))


def api_modules(app, docname, source):
    """source-read: append an automodule directive for every public module to the API page.

    In reStructuredText (eval-rst): autodoc writes reST, which a Markdown page would misread.
    """
    if docname == API_PAGE:
        source[0] += "".join(f"\n## `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n   :members:\n```\n"
                             for name in public_modules())


def code_target(env, text):
    """(module, object) that an inline code `text` names, e.g. ("minidni.train.dni", "DNI.step"), or None.

    `minidni/train/dni.py` names a module; `DNI.step`, `DNI.step(...)` or `build_mlp` a class,
    function or method documented in exactly one module.
    """
    py = env.get_domain("py")
    path = CODE_PATH.match(text)
    if path:
        module = path.group(1).replace("/", ".")
        return (module, "") if module in py.modules else None
    name = CODE_NAME.match(text)
    if not name or name.group(0) != text.split("(")[0]:
        return None
    found = [full for full, entry in py.objects.items() if entry.objtype in CODE_KINDS
             and (full == name.group(0) or full.endswith("." + name.group(0)))]
    if len(found) != 1:
        return None
    module = max((m for m in py.modules if found[0].startswith(m + ".")), key=len)
    return module, found[0][len(module) + 1:]


def link_code(app, doctree, docname):
    """doctree-resolved: link each inline code name of a page to its source in _modules/ (viewcode)."""
    if docname == API_PAGE:
        return
    for literal in list(doctree.findall(nodes.literal)):
        if isinstance(literal.parent, nodes.reference):
            continue
        target = code_target(app.env, literal.astext())
        if target:
            module, obj = target
            uri = app.builder.get_relative_uri(docname, "_modules/" + module.replace(".", "/"))
            link = nodes.reference("", "", internal=True, refuri=uri + (f"#{obj}" if obj else ""))
            literal.replace_self(link)
            link.append(literal)


def student_link(app, pagename, templatename, context, doctree):
    """html-page-context: `student_notebook`, the relative link to a tutorial's student version."""
    notebook = Path(app.outdir) / STUDENT / (Path(pagename).name + ".ipynb")
    if pagename.startswith("tutorials/") and notebook.exists():
        context["student_notebook"] = context["pathto"](f"{STUDENT}/{notebook.name}", 1)
        context["student_release"] = context["pathto"](f"{STUDENT}.zip", 1)


def setup(app):
    """Connect the site's hooks (called by docs/site/conf.py's setup)."""
    app.connect("source-read", api_modules)
    app.connect("doctree-resolved", link_code)
    app.connect("html-page-context", student_link)
