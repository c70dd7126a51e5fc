"""The attribution stage (see DESIGN.md)."""
