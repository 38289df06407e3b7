from setuptools import setup, Extension

setup(name="ub", version="0.1", ext_modules=[Extension("ub", ["ub.c"])])
