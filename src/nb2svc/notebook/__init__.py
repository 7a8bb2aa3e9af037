"""Reading notebooks and their markers."""
