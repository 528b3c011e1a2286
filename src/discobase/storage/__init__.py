"""Storage: the only layer that talks to Discord (transports), plus the wire codec and table cursors."""
