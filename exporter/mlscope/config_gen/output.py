"""Writing the generated files into a folder without clobbering anything mlscope did not write.

Why a manifest: the output folder may be a user's own repository (``docs/alerts.md``
could be theirs). ``.mlscope-generated`` in the output folder lists every path mlscope
wrote there; a file that exists but is not listed is refused before anything is
written, so a run either writes everything or nothing. Generated files are replaced on
each run (their header says "do not edit by hand"). Secret files are written once, as
placeholders, and never replaced: the real secret goes in their place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from mlscope._atomic import atomic_write
from mlscope.errors import ConfigError

MANIFEST = ".mlscope-generated"
_MANIFEST_HEAD = "# Files written by `mlscope config`; it replaces them (secrets: never) and no others.\n"


def owned(root: Path) -> set[str]:
    """The paths (relative, POSIX) the manifest of ``root`` lists; none when it has no manifest."""
    path = root / MANIFEST
    if not path.is_file():
        return set()
    return {ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def _foreign(root: Path, rels: Iterable[str], mine: set[str]) -> list[str]:
    return sorted(r for r in rels if r not in mine and (root / r).exists())


def write_all(root: Path, generated: Mapping[str, str], once: Mapping[str, str]) -> list[Path]:
    """Write ``generated`` (replaced each run) and ``once`` (only where missing) under ``root``.

    Raises :class:`ConfigError` naming every generated file that exists although the
    manifest does not list it; nothing is written then.
    """
    mine = owned(root)
    for rel in [*generated, *once]:
        if PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
            raise ConfigError(f"generated path {rel!r} must stay inside the output folder")
    foreign = _foreign(root, generated, mine)  # an existing secret is kept, never refused
    if foreign:
        raise ConfigError(
            f"refusing to write into {root}: {', '.join(foreign)} already exist and mlscope did not "
            f"write them (they are not listed in {root / MANIFEST}); move them away or choose "
            "another output folder"
        )
    written = [atomic_write(root / rel, text, mode=0o644) for rel, text in generated.items()]
    placed = [rel for rel in once if not (root / rel).exists()]  # the user's real secret stays
    written += [atomic_write(root / rel, once[rel], mode=0o600) for rel in placed]
    listed = sorted(mine | set(generated) | set(placed))
    atomic_write(root / MANIFEST, _MANIFEST_HEAD + "".join(f"{r}\n" for r in listed), mode=0o644)
    return written
