"""The benchmark: `make bench`. See bench/__main__.py."""
