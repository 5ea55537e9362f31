"""Errors a user can cause: each names the problem so the CLI can print one line.

Every class also derives from the built-in exception a Python user would expect
(`ValueError` for a bad shape, `TypeError` for a bad dtype, ...), so ordinary
`except ValueError` code keeps working.
"""


class UserError(Exception):
    """Base of every error caused by input, not by a bug in minidni."""


class ShapeError(UserError, ValueError):
    """An array has the wrong number of dimensions or the wrong size."""


class DTypeError(UserError, TypeError):
    """An array has the wrong dtype (integer data into a layer, float labels...)."""


class LabelError(UserError, ValueError):
    """Class labels outside [0, n_classes)."""


class DataFileError(UserError, ValueError):
    """A data file is missing, truncated or corrupt."""


class CheckpointError(UserError, ValueError):
    """A checkpoint does not match the model (names or shapes) or is unreadable."""


class BackendError(UserError, RuntimeError):
    """The requested array backend (CuPy, a GPU) is not available."""


class DivergenceError(UserError, FloatingPointError):
    """Training produced a NaN or infinite loss."""
