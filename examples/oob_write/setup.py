from setuptools import setup, Extension

setup(name="oob", version="0.1", ext_modules=[Extension("oob", ["oob.c"])])
