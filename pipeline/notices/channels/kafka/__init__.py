"""Kafka: notices as JSON records on a topic, for machine subscribers."""
