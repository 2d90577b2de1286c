"""Build script: everything is declared in setup.cfg except the optional compiled PIRLS kernel.

``mixedcompat/_native/glmm_pirls.c`` is plain C (no Python header): it is loaded with ctypes by
``mixedcompat.glmer.compiled``.  The extension is optional: where no C compiler is available the
install still succeeds and glmer uses its numpy PIRLS (the same numbers, slower on small models).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mixedcompat._native._glmm_pirls",
            sources=["mixedcompat/_native/glmm_pirls.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno"],
            libraries=["m"],
            optional=True,
        )
    ]
)
