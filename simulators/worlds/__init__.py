"""Simulated worlds on real data."""

from __future__ import annotations

import os

from ltrr.data import resolve_data_dir
from ltrr.errors import UnknownNameError
from simulators.worlds.base import Engagement, SimRequest, World
from simulators.worlds.music import MusicWorld
from simulators.worlds.music.releases import MusicReleasesWorld, ReleaseRequest
from simulators.worlds.scifact import SciFactWorld

__all__ = [
    "WORLDS",
    "Engagement",
    "MusicReleasesWorld",
    "MusicWorld",
    "ReleaseRequest",
    "SciFactWorld",
    "SimRequest",
    "World",
    "make_world",
]

#: World names and the data folder each reads inside the data root.
WORLDS: dict[str, tuple[type[World], str]] = {
    "scifact": (SciFactWorld, "scifact"),
    "music": (MusicWorld, "cm100k_music"),
    "music_releases": (MusicReleasesWorld, "cm100k_music"),
}


def make_world(name: str, data: str | os.PathLike[str] | None = None, **params: object) -> World:
    """Build a world by name from its real data.

    Parameters
    ----------
    name : {"scifact", "music", "music_releases"}
        The world.
    data : path-like, optional
        The data root or the world's own folder (default: ``$LTRR_DATA``, else ``../shared/data``).
    **params
        Constructor parameters of the world.

    Returns
    -------
    World
        The world.
    """
    if name not in WORLDS:
        raise UnknownNameError(f"unknown world {name!r}; expected one of {sorted(WORLDS)}")
    cls, folder = WORLDS[name]
    root = resolve_data_dir(data, dataset=folder)
    return cls.from_folder(root, **params)  # type: ignore[attr-defined, no-any-return]
