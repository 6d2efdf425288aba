"""The ticketing service's HTTP interface (FastAPI)."""
