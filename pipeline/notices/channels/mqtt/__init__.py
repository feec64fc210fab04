"""MQTT: one topic per sector and region (``<prefix>/<sector>/<region>``)."""
