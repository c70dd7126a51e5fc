"""The sim stage (see DESIGN.md)."""
