"""Transfer: carry a controller tuned where trials are cheap to a backend where they are not (``entropic-transfer``)."""

from entropic.tuning.transfer.gains import (
    SETPOINT_MODES,
    Transfer,
    carried_effort_limits,
    transfer_gains,
    transfer_setpoint,
)

__all__ = ["SETPOINT_MODES", "Transfer", "carried_effort_limits", "transfer_gains", "transfer_setpoint"]
