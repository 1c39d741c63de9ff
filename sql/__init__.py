"""SQL of snapprice, shipped inside the package as ``snapprice._sql`` (see snapprice.paths)."""
