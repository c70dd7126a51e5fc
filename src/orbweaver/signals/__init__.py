"""The signals stage (see DESIGN.md)."""
