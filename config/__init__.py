"""OSA's configuration: default settings (`defaults.py`) and event definitions (`events/*.toml`)."""
