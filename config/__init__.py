"""Default configuration, shipped inside the package as ``snapprice._config`` (see snapprice.paths)."""
