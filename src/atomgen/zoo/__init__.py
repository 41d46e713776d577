"""atomgen.zoo"""
