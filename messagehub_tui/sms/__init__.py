"""Hearing back from Twilio: delivery status (callbacks and the daemon's poll) and inbound
replies, recorded through the feedback service."""
