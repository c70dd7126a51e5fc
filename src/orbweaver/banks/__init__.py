"""The banks stage (see DESIGN.md)."""
