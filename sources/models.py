"""Data sources (uploaded documents) arrive with the data-sources issue."""
