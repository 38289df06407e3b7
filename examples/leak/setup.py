from setuptools import setup, Extension

setup(name="leak", version="0.1", ext_modules=[Extension("leak", ["leak.c"])])
