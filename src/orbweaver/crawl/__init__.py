"""The crawl stage (see DESIGN.md)."""
