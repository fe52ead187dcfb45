"""Model architecture facts, offline: config.json folders, the HF cache, a built-in catalog."""
