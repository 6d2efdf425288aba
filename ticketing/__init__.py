"""The service desk's domain: tickets, customers, queues, agents and their rules."""
