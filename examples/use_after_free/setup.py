from setuptools import setup, Extension

setup(name="uaf", version="0.1", ext_modules=[Extension("uaf", ["uaf.c"])])
