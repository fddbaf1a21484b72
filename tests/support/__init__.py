"""Test support: helpers and small worlds the tests share (never deployed, never imported by the package)."""
