"""Tests of the application layer, ltrr.app."""
