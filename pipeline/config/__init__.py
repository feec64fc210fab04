"""Settings read from the environment and the declared maintenance windows."""
