"""Every write to the subscribers app goes through a function in this package."""
