"""Dataset cards: the card of a version (card.py), with its judge calibration and diversity sections."""

from flows.report.card import *  # noqa: F403
