"""datamill."""
