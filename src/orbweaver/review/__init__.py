"""The review stage (see DESIGN.md)."""
