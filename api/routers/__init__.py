"""HTTP routes. Routers speak HTTP only; the rules are in ticketing.services."""
