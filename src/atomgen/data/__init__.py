"""atomgen.data"""
