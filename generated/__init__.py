"""Code written by ev-codegen. Never edit by hand: run `ev-codegen generate`."""
