"""Folders as folder markers (``photos/`` zero-byte keys, as web consoles make them).

Rule: a marker is never a file. Without ``empty_dirs`` a new marker makes its local
folder once, and nothing else happens to folders. With it, empty folders are mirrored
both ways as markers, three-way against the markers the pair synced before (the base):
a folder is removed on one side only when it was removed on the other and is empty here
— never its content (an ``rmdir`` refuses a folder that is not empty).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

from s3sync.core.change import Mode
from s3sync.core.paths import RelPath


@dataclass(frozen=True, slots=True)
class FolderPlan:
    make_local: list[RelPath] = field(default_factory=list)  # mkdir -p
    make_remote: list[RelPath] = field(default_factory=list)  # PUT rel/ (zero bytes)
    remove_local: list[RelPath] = field(default_factory=list)  # rmdir (empty only)
    remove_remote: list[RelPath] = field(default_factory=list)  # DELETE rel/
    synced: set[RelPath] = field(default_factory=set)  # the markers the base holds after it


def plan_folders(
    base: Set[RelPath],
    markers: Set[RelPath],
    local_folders: Set[RelPath],
    local_empty: Set[RelPath],
    *,
    mode: Mode,
    no_delete: bool,
    empty_dirs: bool,
) -> FolderPlan:
    """``base``: markers synced before; ``markers``: listed now; ``local_folders``: every
    folder of the scan, ``local_empty`` those without any entry."""
    plan = FolderPlan()
    pulls, pushes = mode is not Mode.PUSH, mode is not Mode.PULL
    for rel in sorted(base | markers | (local_empty if empty_dirs else set())):
        marked, before, here = rel in markers, rel in base, rel in local_folders
        if not empty_dirs:
            if marked and not before and not here and pulls:
                plan.make_local.append(rel)
            if marked and (pulls or before):
                plan.synced.add(rel)
            continue
        empty = rel in local_empty
        if marked and not before:
            if not here and pulls:
                plan.make_local.append(rel)
            plan.synced.add(rel)
        elif empty and not marked and not before:
            if pushes:
                plan.make_remote.append(rel)
                plan.synced.add(rel)
        elif before and marked and not here:
            # Removed here since it was synced: its marker goes too (pull restores it).
            if pushes and not no_delete:
                plan.remove_remote.append(rel)
            else:
                if not pushes:
                    plan.make_local.append(rel)
                plan.synced.add(rel)
        elif before and not marked and empty:
            # Its marker was removed there, and it is still empty here.
            if pulls and not no_delete:
                plan.remove_local.append(rel)
            elif pushes and not pulls:
                plan.make_remote.append(rel)  # push restores the source's folder
                plan.synced.add(rel)
        elif before and marked:
            plan.synced.add(rel)
    return plan
