"""The worker process: set-up, the shared runtime, the faust app and its entry point."""
