from setuptools import Extension, setup

setup(name="holder", version="0.1", ext_modules=[Extension("holder", ["holder.c"])])
