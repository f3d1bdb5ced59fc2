"""The callback (回访): each reporter answers each resolution round once."""
