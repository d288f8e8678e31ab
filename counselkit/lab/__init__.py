"""The lab: real Debian 12 hosts under systemd-nspawn on this machine, for demo and tests.

Public API: :func:`lab_up`, :func:`lab_down`, :func:`load_state` and the
state types; the CLI group lives in :mod:`counselkit.lab.commands`.
"""

from counselkit.lab.errors import LabError
from counselkit.lab.lifecycle import lab_down, lab_reset, lab_status, lab_up
from counselkit.lab.state import LabHost, LabState, S3Settings, load_state

__all__ = ["LabError", "LabHost", "LabState", "S3Settings", "lab_down", "lab_reset", "lab_status", "lab_up", "load_state"]
