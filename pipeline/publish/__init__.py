"""Publication: status page, read API, Statuspage summary and periodic reports, each cut
to its audience (operator, verifier, public) on the server before anything leaves it."""
