"""A generated bad-input suite (issue 23): a small valid world, and bad values derived from the CLI's schemas."""
