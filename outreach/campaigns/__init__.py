"""Campaigns and their deliveries: creation, launch, and the delivery state machine.

Services here take a SQLAlchemy session and plain values; they never import Flask or the workers.
"""
