"""Outcome data: the dataset format, importers, collection store and label building."""
