"""`privacy-router bench`: detection against stock Presidio, gateway overhead under open-loop load.

See docs/performance.md for the method and the latest numbers.
"""
