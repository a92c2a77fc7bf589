"""Test support: a fault-injecting proxy for S3 servers and the fixtures around it."""
