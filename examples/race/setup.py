from setuptools import Extension, setup

setup(name="counter", version="0.1", ext_modules=[Extension("counter", ["counter.c"])])
