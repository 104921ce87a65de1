"""Pure algorithms: numbers and text in, numbers and text out.

No Django, no torch: the bottom layer (see ARCHITECTURE.md), tested with literal arrays and run
by services and job bodies alike.
"""
