"""Heuristic reasoning-quality judge (issue 4): being written."""
