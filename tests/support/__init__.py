"""Helpers the test tree shares (not tests themselves)."""
