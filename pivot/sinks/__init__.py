"""Consumers of engine events that draw: the console and JSON lines. (The TUI is another.)"""
