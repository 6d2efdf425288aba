"""Rasa project of the service desk: domain, stories, channels and custom NLU components."""
