"""Pure analyses: numpy arrays in, frozen result objects out. Nothing here imports torch."""
