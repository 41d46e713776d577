"""atomgen.io"""
