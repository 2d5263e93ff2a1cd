"""Engine collectors added beside the built-in embedding collector (they import torch; analyses do not)."""
