"""System checks placeholder (filled by the guard)."""
