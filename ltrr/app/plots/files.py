"""Writing figures to files: the formats written, the path check and save_figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: File suffixes :func:`save_figure` writes.
FIGURE_FORMATS = (".png", ".svg", ".pdf")


def check_figure_path(path: str | Path) -> Path:
    """Return ``path`` as a Path if its suffix names a format :func:`save_figure` writes.

    Parameters
    ----------
    path : str or Path
        The intended output file.

    Returns
    -------
    Path
        The same path.

    Raises
    ------
    InvalidInputError
        If the suffix is not one of :data:`FIGURE_FORMATS`.
    """
    out = Path(path)
    if out.suffix.lower() not in FIGURE_FORMATS:
        raise InvalidInputError(
            f"figure path {str(path)!r} must end in one of {', '.join(FIGURE_FORMATS)}"
        )
    return out


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a figure to a file (format by suffix), creating parent folders.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Output file ending in ``.png``, ``.svg`` or ``.pdf``.
    dpi : int
        Resolution of raster output (default 110).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InvalidInputError
        If the suffix is not supported or ``dpi`` is not a positive integer.
    """
    out = check_figure_path(path)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise InvalidInputError(f"dpi must be an integer >= 1, got {dpi!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out
