"""EnergyManager: shares the grid connection's current among the EVSEs of the energy tree."""
