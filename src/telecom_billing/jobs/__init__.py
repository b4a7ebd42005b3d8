"""Services: what a command does, as functions the CLI, the container entry points and the demo call."""
