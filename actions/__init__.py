"""Custom actions of the service desk, served by the rasa-sdk action server.

Actions never touch the database: they call the ticketing API over HTTP through
``actions.desk_api.DeskApiClient`` with the bot's service token.
"""
