"""atomgen.eval"""
