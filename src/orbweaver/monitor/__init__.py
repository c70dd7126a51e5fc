"""The monitor stage (see DESIGN.md)."""
