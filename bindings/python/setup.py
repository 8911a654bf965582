"""Installs the jobclient package (pure Python; libjobclient is loaded at
run time with ctypes, see jobclient/_lib.py).

    python3 -m pip install ./bindings/python        # offline: only setuptools
"""
from setuptools import setup

setup(
    name="jobclient",
    version="0.1.0",
    description="Python binding (ctypes) of libjobclient, the jobd client",
    long_description=open(__file__.replace("setup.py", "README.md"),
                          encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-2-Clause",
    packages=["jobclient"],
    package_data={"jobclient": ["py.typed"]},
    python_requires=">=3.8",
    zip_safe=False,
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Typing :: Typed",
    ],
)
