"""C extensions built with cffi at install time."""
