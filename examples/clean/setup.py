from setuptools import setup, Extension

setup(ext_modules=[Extension("clean", ["clean.c"])])
