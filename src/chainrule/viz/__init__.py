"""Seeing backprop: graph export, rendering and chain-rule explanations."""
