"""Verdicts: the judge, judge samples, and the outcomes of a test."""
