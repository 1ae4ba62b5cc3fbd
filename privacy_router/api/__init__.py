"""HTTP surfaces: one module per surface, each a thin router over one service function."""
