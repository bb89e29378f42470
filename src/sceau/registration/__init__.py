"""Registration authority: structures (FINESS, IDNST), people and cards, départements, FINESS data.

Plain Python: no database and no web framework; storage and adapters live in upper layers.
"""
