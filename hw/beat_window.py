"""The raw-sample stream layout, at the path its users import it from.

The monitor's beat windows are cut by the front end's program from its own history of the
record's samples (hw/qrs_program.py ``front_end_program``, hw/qrs_front_end.py); the input ring
in front of it is hw/sample_ring.py, where :data:`SAMPLE_LAYOUT` is defined.
"""

from .sample_ring import SAMPLE_LAYOUT

__all__ = ["SAMPLE_LAYOUT"]
