"""harness judge command (issue 4): being written."""
