"""The training engine: one Lightning module for every family, callbacks (EMA, sample-and-evaluate), configs."""
