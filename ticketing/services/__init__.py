"""The rules of the service desk. Services take the session explicitly and never commit."""
