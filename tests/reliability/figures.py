"""Counters the reliability tests add to (records written and lost, crashes survived, bad inputs tried), printed
at the end of a run by conftest's terminal summary: the figures the closing note of the issue reports."""
from collections import Counter

FIGURES: Counter = Counter()
