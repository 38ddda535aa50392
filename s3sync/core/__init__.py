"""The pure core of s3sync.

Rule: nothing under ``s3sync.core`` does I/O, reads the clock, logs, or imports
anything but the standard library and ``s3sync.core`` itself. Time and host facts
arrive as arguments. ``tests/core/test_core_is_pure.py`` enforces this.
"""
