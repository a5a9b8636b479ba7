"""supporters."""
