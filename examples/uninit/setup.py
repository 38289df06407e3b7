# The extension list lives here; pyproject.toml makes this a PEP 517 build (pip install .).
from setuptools import setup, Extension

setup(ext_modules=[Extension("uninit", ["uninit.c"])])
