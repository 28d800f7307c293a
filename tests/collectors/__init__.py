"""Tests of the system and GPU collectors."""
