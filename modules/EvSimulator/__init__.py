"""EvSimulator: a scripted EV on the far side of the simulated control pilot."""
