"""Faust agents (thin) and the plain-Python logic they call (agents.logic)."""
