from setuptools import setup, Extension

setup(name="svc", version="0.1", ext_modules=[Extension("svc", ["svc.c"])])
