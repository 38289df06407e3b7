from setuptools import setup, Extension

setup(name="modstate", version="0.1", ext_modules=[Extension("modstate", ["modstate.c"], libraries=["z"])])
