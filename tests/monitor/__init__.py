"""Tests of the Monitor client and its shipper."""
