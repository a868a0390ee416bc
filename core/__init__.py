"""Small helpers every app may import. This package imports from no app of the project."""
