"""BoardSimulator: the charger's and the EV's boards on one simulated cable."""
