"""The one numba option set of cwfast's kernels, and an on-disk cache that knows kernels call across files.

numba's cache (``cache=True``) keys a compiled function on the source of the file that defines it
and nothing else. A kernel in ``_kernels.py`` that calls a head in ``_head_kernels.py`` would keep
running its cached copy of the old head after ``_head_kernels.py`` changed. Copying the head into
every kernel file avoids that at the price of copies that drift apart; this module avoids it at the
source: the files of the package that define compiled functions are one *kernel family*, and the
cache stamp of a function in any of them is a hash of all of them. Change one kernel file and every
kernel recompiles once; change none and every start is a cache hit.

It does so by putting three locator classes in front of numba's own (numba looks for the first
locator that accepts a function): the same locations as numba's user-provided
(``NUMBA_CACHE_DIR``), in-tree (``__pycache__``) and user-wide locators, with the family stamp,
for files of this package only. If a future numba moves these internals, :data:`FAMILY_STAMPS`
is False and caching falls back to numba's per-file stamps; ``tests/test_cache.py`` catches that.
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

# error_model="numpy": a float division by zero gives inf instead of raising, which lets LLVM
# vectorise loops that divide (the rational tanh of _kernels ran at 14 vs 3.5 ns per element).
# fastmath: reassociation and contraction only (vectorised dot products and FMA), no
# nnan/ninf/nsz/arcp/afn; see cwfast._kernels for the measurements.
JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})

#: 0 as an int64, for a kernel to pass where it means the number 0. numba types a literal ``0``
#: (or a variable that starts as ``-1``) passed to another compiled function as ``Literal[int](0)``
#: and compiles that function again for it, inlined passes and all: the many-voice kernels compiled
#: their 4 x 4 passes three times and their lane passes twice (a Clockwork RNN's voices, one float
#: type, cold cache: 61.5 and 66.7 s to compile, against 50.6 and 50.6 s passing this). numba types
#: a global NumPy scalar as its plain type.
INT_ZERO = np.int64(0)

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


@functools.lru_cache(maxsize=None)
def _file_digest(path, mtime, size):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).digest()


@functools.lru_cache(maxsize=1)
def family_files():
    """The package's files that define compiled functions (``njit`` or ``cfunc``), and this one,
    whose options they compile with (sorted paths): the kernel family. Read once a process.

    A file that only calls numba's API (``numba.get_num_threads``, its version) is not in it:
    editing the command line or the model's Python would otherwise recompile every kernel."""
    out = []
    for name in sorted(os.listdir(_PACKAGE_DIR)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(_PACKAGE_DIR, name)
        with open(path, "rb") as fh:
            source = fh.read()
        if path == os.path.realpath(__file__) or b"njit(" in source or b"cfunc(" in source:
            out.append(path)
    return tuple(out)


@functools.lru_cache(maxsize=1)
def family_stamp():
    """A hash of every kernel file's contents: the cache stamp of each function defined in one.

    Computed once a process (numba asks for it for every cached function it loads: reading the
    package each time cost about 10 ms a kernel at start-up); a file edited while a process runs
    is seen by the next process, which is when numba's cache is consulted again anyway."""
    digest = hashlib.sha256()
    for path in family_files():
        st = os.stat(path)
        digest.update(os.path.basename(path).encode())
        digest.update(_file_digest(path, st.st_mtime, st.st_size))
    return digest.digest()


def _in_package(py_file):
    try:
        return os.path.dirname(os.path.realpath(py_file)) == _PACKAGE_DIR
    except (TypeError, ValueError):
        return False


def _family_locator(base):
    class FamilyLocator(base):
        def get_source_stamp(self):
            return family_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _in_package(py_file):
                return None
            return super().from_function(py_func, py_file)

    FamilyLocator.__name__ = FamilyLocator.__qualname__ = f"Cwfast{base.__name__.lstrip('_')}"
    return FamilyLocator


def _install():
    try:
        from numba.core import caching

        # numba 0.59 names these classes with a leading underscore, later releases without one
        bases = tuple(getattr(caching, name, None) or getattr(caching, "_" + name)
                      for name in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"))
        locators = caching.CacheImpl._locator_classes
    except (ImportError, AttributeError):
        return False
    if not any(getattr(cls, "__name__", "").startswith("Cwfast") for cls in locators):
        locators[:0] = [_family_locator(base) for base in bases]
    return True


#: Whether kernels are cached with the family stamp (False: numba's own per-file stamps).
FAMILY_STAMPS = _install()


def _slp_pipeline():
    """A numba compiler class that lowers a function for LLVM's SLP vectoriser and wide vectors, or None.

    numba runs LLVM without its SLP (straight-line) vectoriser unless ``NUMBA_SLP_VECTORIZE=1``
    is set for the whole process. The voice kernels' lane passes (cwfast._voice_kernels) are
    written for it: one row's accumulators for 16 voices are 16 scalars that only the SLP
    vectoriser packs into a vector register (the loop vectoriser vectorises other loops, not these
    lanes). This pipeline is numba's own with its lowering pass wrapped: the option is switched
    on for that pass (LLVM's optimisation of the function runs inside it) and put back after it,
    under numba's compiler lock, so no other compilation sees it. The pass also gives the
    function's LLVM code the attribute ``"prefer-vector-width"="512"``: LLVM keeps to 256-bit
    vectors on AVX-512 Xeons unless told (a per-function preference; CPUs without AVX-512 keep
    their widest registers). With a numba whose internals differ, None: the kernels then compile
    as usual (the same results, slower).
    """
    try:
        from numba.core import config
        from numba.core.compiler import CompilerBase, DefaultPassBuilder
        from numba.core.compiler_machinery import register_pass
        from numba.core.typed_passes import NativeLowering
    except ImportError:
        return None
    if not hasattr(config, "SLP_VECTORIZE"):
        return None

    @register_pass(mutates_CFG=True, analysis_only=False)
    class CwfastSLPLowering(NativeLowering):
        _name = "cwfast_slp_lowering"

        def run_pass(self, state):
            if state.library is None:  # as NativeLowering does, to tag the functions it adds
                state.library = state.targetctx.codegen().create_library(state.func_id.func_qualname)
                state.library.enable_object_caching()
            library = state.library
            add = library.add_ir_module

            def add_wide(module):
                for fn in module.functions:
                    if not fn.is_declaration:
                        # a string attribute: llvmlite's FunctionAttributes.add takes LLVM's enum ones only
                        set.add(fn.attributes, '"prefer-vector-width"="512"')
                return add(module)

            library.add_ir_module = add_wide
            saved = config.SLP_VECTORIZE
            config.SLP_VECTORIZE = 1
            try:
                return super().run_pass(state)
            finally:
                config.SLP_VECTORIZE = saved
                del library.add_ir_module

    class CwfastSLPCompiler(CompilerBase):
        def define_pipelines(self):
            pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
            pm.passes[:] = [(CwfastSLPLowering, "cwfast SLP lowering") if cls is NativeLowering else (cls, name)
                            for cls, name in pm.passes]
            pm.finalize()
            return [pm]

    return CwfastSLPCompiler


#: The compiler class of functions written for LLVM's SLP vectoriser and 512-bit vectors (see :func:`_slp_pipeline`),
#: or None where numba's internals differ.
SLP_PIPELINE = _slp_pipeline()


@functools.lru_cache(maxsize=1)
def has_avx512():
    """Whether numba compiles for a CPU with AVX-512 (its features: ``NUMBA_CPU_FEATURES``, or the
    host's). The row kernels choose how many sums to keep in flight by it (16 or 32 vector registers)."""
    try:
        import llvmlite.binding as llvm
        from numba.core import config

        features = config.CPU_FEATURES if config.CPU_FEATURES is not None else llvm.get_host_cpu_features().flatten()
    except (ImportError, AttributeError, RuntimeError):
        return False
    return "+avx512f" in features.split(",")
