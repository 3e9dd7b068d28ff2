"""Pictures of `sire train` runs (scripts/plots): reading run folders, training curves, gradient flow."""
