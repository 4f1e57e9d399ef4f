"""Data shared by the papers: vision datasets held as tensors, and the offline mirror."""
