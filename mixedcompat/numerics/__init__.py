"""Numerical tools shared by the model families: optimisers, numerical derivatives, R's linear algebra, threads."""
