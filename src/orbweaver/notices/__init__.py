"""The notices stage (see DESIGN.md)."""
