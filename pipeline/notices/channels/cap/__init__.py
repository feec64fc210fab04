"""OASIS CAP 1.2 alerts, served as an Atom feed by the notifier."""
