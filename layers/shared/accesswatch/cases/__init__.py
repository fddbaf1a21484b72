"""Cases: a staff member's findings gathered into one case (data contract v2), routed by the case state machine."""

MAX_NOTE_CHARS = 2000  # the longest note, reason or source text a case, exception or form keeps (one cap for all)
