"""Reliability campaigns: fault injection, races, bad input, load."""
