"""Sphinx configuration of the course site. Build it with `python -m minidni course site DIR`
(minidni/course/site.py): the source directory is the repository root, this folder the configuration."""
from minidni.course import site

project = "minidni"
author = "the minidni authors"
copyright = "the minidni authors, MIT licence"
root_doc = site.HOME

# The pages: this folder's, the docs and the notebooks. figures/*.md, README.md and
# tutorials/INSTRUCTOR.md's text reach the site through this folder's {include}s.
include_patterns = ["docs/site/*.md", "docs/*.md", "tutorials/*.ipynb", "tutorials/INSTRUCTOR.md"]
# figures/mnist.md, the full-MNIST Table 1, appears when its run has finished; its page waits for it.
exclude_patterns = [] if (site.REPOSITORY / "figures" / "mnist.md").exists() else ["docs/site/table1_mnist.md"]
templates_path = ["_templates"]

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "sphinx.ext.mathjax"]
nb_execution_mode = "off"                  # the committed outputs, never re-executed
nb_ipywidgets_js = {}                      # no widget scripts from a CDN: the notebooks hold no widgets
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3                   # `paper_map.md#differences-from-...` links resolve

# MathJax 2.7 from the jupyter-server-mathjax package, copied into _static/mathjax by site.build:
# the maths is typeset with no network.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {"tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                               "processEscapes": True},
                   # The package ships MathJax's STIX-Web web fonts only (Jupyter's choice). Its probe
                   # font MathJax_Blank at about:blank is looked up locally instead, and the hidden
                   # MathML copy is off: its double-struck letters ask for TeX fonts that are not there.
                   "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web",
                                "imageFont": None,
                                "styles": {"@font-face": {"src": "local('MathJax_Blank')"}}},
                   "menuSettings": {"assistiveMML": False},
                   "messageStyle": "none"}
myst_update_mathjax = False                # MathJax 2 is configured below, not by myst (MathJax 3+)

autodoc_member_order = "bysource"
autodoc_default_options = {"undoc-members": False}
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "240px", "show_relbars": True}
html_title = "minidni: Decoupled Neural Interfaces, from scratch"
html_show_sourcelink = False
html_copy_source = False


def setup(app):
    site.setup(app)
