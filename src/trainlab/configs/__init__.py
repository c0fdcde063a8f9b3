"""Hydra config tree of trainlab (YAML files; this file makes it importable for Hydra)."""
