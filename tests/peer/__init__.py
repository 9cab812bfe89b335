"""Tests of the local peer (vivavoce.peer)."""
