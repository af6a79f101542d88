"""Shared core: settings, database and the tables every process uses (actions, gateway, back office)."""
