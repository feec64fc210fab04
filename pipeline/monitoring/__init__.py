"""Per-service monitoring: status from evidence and silence, with the detectors and incidents."""
