"""Helpers shared by the simulated parts of a charger (board, EV, meters)."""
