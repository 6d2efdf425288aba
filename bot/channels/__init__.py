"""Custom Rasa input channels of the service desk."""
