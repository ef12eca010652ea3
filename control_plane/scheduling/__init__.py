"""The schedule engine: which ads each screen plays, hour by hour, over the next horizon.

A pure function of its inputs (`inputs.py`): screens, approved campaigns, moderation results and
"now". No clock, database or randomness: the same inputs give byte-identical plans, so a
playlist's version can be the hash of its content. `engine.build()` is the entry point;
`eligibility.py` says why a campaign may or may not play on a screen, `weekly.py` turns opening
hours and dayparts in a screen's local time into UTC minutes, `pacing.py` spreads budgets over
flights, `allocate.py` shares a loop's slots, `separation.py` orders them.
"""
