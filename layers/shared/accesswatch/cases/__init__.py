"""Cases: findings grouped by (user, client) within a window, routed by the case state machine."""
