"""Runner processes, their supervisor, the scheduler and rate limiting."""
