"""Notices for alert subscribers: subscriptions, the pure notice policy, channels, notifier."""
