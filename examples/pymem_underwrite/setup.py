from setuptools import setup, Extension

setup(name="underwrite", version="0.1", ext_modules=[Extension("underwrite", ["underwrite.c"])])
