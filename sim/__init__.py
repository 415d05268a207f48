"""Simulation testbenches for redmule-hdl: stream models, memory model, drivers and job runners."""
