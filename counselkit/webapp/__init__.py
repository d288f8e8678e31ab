"""The counselling web app: its bundle (build.py, built on the control machine) and each centre's config (config.py)."""
