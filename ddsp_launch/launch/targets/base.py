"""What every target declares the same way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepts:
    """The data and outputs a target takes (launch/resolve.py checks every door's paths against it).
    Data on this machine is always welcome: a target that cannot read it here has the prepared
    dataset uploaded for the run (``uploads_data``): a dataset folder, or audio prepared first."""

    local_output: bool  # an output folder on this machine (else gs:// only)
    uploads_data: bool  # local data is uploaded for the run (a folder then, never files or a glob)
    why: str = ""  # why its outputs must be gs:// (the message names the target)
