"""Pinned CUDA images: the approved-image catalog, GPU/CUDA/driver compatibility rules and EC2's GPU
instance-type data, all read from files in this package so that planning needs no cloud access."""
