"""Routing's cases: who acts on every need, and the department and team workflow."""
