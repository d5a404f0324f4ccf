"""Faust app, topics, wire records and settings of wirewatch."""
