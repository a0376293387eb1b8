"""EnergyNode: one fuse of the energy tree, adding its limit to everything behind it."""
