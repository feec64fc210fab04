"""E-mail over SMTP (plain text + HTML; STARTTLS and AUTH configurable)."""
