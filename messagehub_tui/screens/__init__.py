"""Textual screens; nothing outside app.py and this package imports textual."""
