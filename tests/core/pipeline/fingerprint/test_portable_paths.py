"""Paths inside the project are hashed from ``<project>``; the root is compared as a path
prefix, not as text (``/srv/proj-data`` is not inside ``/srv/proj``)."""

from __future__ import annotations

import pytest

from pivot.core.pipeline.fingerprint._walk_util import _root_pattern


@pytest.mark.parametrize(
    ("text", "hashed"),
    [
        ("/srv/proj", "<project>"),
        ("/srv/proj/data/x.csv", "<project>/data/x.csv"),
        ("/srv/proj-data/x.csv", "/srv/proj-data/x.csv"),  # next to the project
        ("/srv/project/x.csv", "/srv/project/x.csv"),
        ("/srv/proj.bak/x", "/srv/proj.bak/x"),
        ("/mnt/srv/proj/x", "/mnt/srv/proj/x"),  # another tree that merely contains the text
        ("a=/srv/proj/a:/srv/proj/b", "a=<project>/a:<project>/b"),
    ],
)
def test_only_whole_path_prefixes_are_rewritten(text: str, hashed: str) -> None:
    assert _root_pattern("/srv/proj").sub("<project>", text) == hashed
