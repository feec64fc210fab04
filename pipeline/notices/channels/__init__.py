"""Delivery channels: one subfolder each (config + sender); see :mod:`.registry`."""
