"""Hand-written charger modules: each folder holds a manifest.yaml and the code behind it."""
