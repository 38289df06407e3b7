from setuptools import setup, Extension

setup(name="crash", version="0.1", ext_modules=[Extension("crash", ["crash.c"])])
