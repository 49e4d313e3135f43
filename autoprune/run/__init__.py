"""What a search run is, shared by every stage: its settings, record, study storage, parent and context.

search, validate and export all read a run through this package; none of them owns it.
"""
