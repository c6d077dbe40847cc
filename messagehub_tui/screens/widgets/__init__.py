"""Textual widgets the screens share; like screens/, the only other package that imports textual."""
