"""wirewatch: command-line entry points and the local Slack-compatible sink."""
