"""scaleout: one mirror run as many workers, on this machine or on a Ray cluster.

The coordinator (`coordinator.py`) holds key ranges, never keys: it hands ranges to an
executor's workers from a pull queue, cuts the rest of a range finer when a worker hands
it back (`mirror.ranges`), adds up what each range did into the one summary, redoes a
range whose worker died, and applies deletions only after every range ended cleanly.
A worker (`work.py`) rebuilds the two buckets from a sealed description (`sealing.py`:
credentials travel encrypted, never in plain text) and runs the ordinary mirror copy
phase over its range.
"""
