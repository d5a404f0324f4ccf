"""Domain logic: runs without Faust or a broker."""
