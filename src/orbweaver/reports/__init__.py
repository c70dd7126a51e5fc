"""The reports stage (see DESIGN.md)."""
