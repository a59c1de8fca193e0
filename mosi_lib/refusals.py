"""One-line refusals: errors a notebook page shows as one line, not as a traceback.

A refusal is the user's to act on (run another notebook first, choose another study), not a bug
to debug: IPython shows an exception through its ``_render_traceback_`` when it has one, so a
refusal shows only its type and message there. Papermill and the CLI see an ordinary exception
(``ename``, ``evalue``), which the CLI prints as one line anyway.
"""

from __future__ import annotations


class OneLine:
    """Mixin: IPython (JupyterLab, papermill's kernels) shows the exception as one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class StudyMismatch(OneLine, ValueError):
    """A notebook's config differs from the one its study was run with (profile, protocol...)."""


class MissingRun(OneLine, FileNotFoundError):
    """A notebook needs a finished run its study lacks; names the notebook that makes it."""
