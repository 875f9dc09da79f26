"""leaderboard/compare/report commands (issue 6): being written."""
