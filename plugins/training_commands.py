"""pairs/train/pipeline commands (issue 5): being written."""
