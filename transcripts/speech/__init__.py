"""Speech engines, audio decoding and scoring. Plain Python: nothing here imports Django."""
