from setuptools import setup, Extension

setup(name="refleak", version="0.1", ext_modules=[Extension("refleak", ["refleak.c"])])
