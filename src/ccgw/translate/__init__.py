"""Pure translators between client protocols and the upstream's vocabulary (no I/O)."""
