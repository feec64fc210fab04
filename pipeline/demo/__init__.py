"""The demo: a simulator of operators in the four sectors with injected outages."""
