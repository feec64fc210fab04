"""Local-stack administration: starting servers, creating topics and databases, health checks."""
