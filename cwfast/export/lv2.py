"""An LV2 plug-in bundle around an exported model, built with the system C compiler.

``DIR/NAME.lv2/`` holds ``manifest.ttl``, ``NAME.ttl``, ``NAME.so`` and the sources it was built
from (``NAME.h``, ``NAME.c``, ``NAME_lv2.c``). The plug-in URI is ``urn:cwfast:NAME``.

* An effect model (one input, one linear output) is an audio-in/audio-out plug-in
  (``lv2:SimulatorPlugin``); input and output may share a buffer.
* A memorize model is a generator (``lv2:GeneratorPlugin``, one audio output): it plays what it
  learnt from the clock alone, at the level of its training audio, from the start on every
  activation.
* An autoregressive model is a generator with a ``temperature`` and a ``seed`` control port; it
  generates as ``cwfast generate`` does, from the seed on the port (0 by default) at every
  activation and from a new one whenever the port's whole number changes (5.5 is seed 5), so that two instances given two seeds
  are two voices rather than one voice twice, louder.

**Host rate.** A plug-in refuses to instantiate (``instantiate`` returns NULL, with a message on
stderr) when the host's rate differs from the rate the model was trained at. A model's clock
periods and everything it learnt are counted in samples at its own rate, so at another rate it
would play or process something else; resampling inside would add a filter's latency and cost to
every sample, would turn an autoregressive model's sampled output into a filtered one, and would
make the plug-in's output differ from ``cwfast process``. The host (or the user, choosing the
session rate) is in a better position to convert rates once for a whole session. A model that
stores no rate runs at any rate.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .._atomic import default_permissions
from ..errors import CwfastError, ParameterError

#: Flags the plug-in is built with: portable (no -march) and no floating-point liberties.
CFLAGS = ["-std=c99", "-O3", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Wextra"]


def find_compiler(cc=None):
    """The C compiler to use, as the words of a command: ``cc``, else ``$CC``, else ``cc``, ``gcc`` or
    ``clang`` on PATH. ``cc`` and ``$CC`` may carry words of their own (``ccache gcc``, ``gcc -m64``),
    as make's CC does; a relative path (``tools/cc``) is taken from the current folder.

    Raises
    ------
    CwfastError
        If there is none, or the command cannot be split into words (an unclosed quote).
    """
    import shlex

    given = cc or os.environ.get("CC")
    candidates = [given] if given else ["cc", "gcc", "clang"]
    for candidate in candidates:
        try:
            words = shlex.split(candidate)
        except ValueError as exc:  # an unclosed quote: not a missing compiler
            raise CwfastError(f"cannot read the C compiler command {candidate!r} ({exc}); fix {'cc' if cc else 'CC'}") \
                from None
        found = shutil.which(words[0]) if words else None
        if found:
            return [found, *words[1:]]
    raise CwfastError(
        f"no C compiler found ({', '.join(candidates)}) to build the LV2 plug-in; install one "
        "(e.g. apt-get install gcc) or set CC"
    )


def kind_of(spec):
    """'effect', 'memorize' or 'autoregressive': the plug-in a model makes, or CwfastError."""
    if spec.mode == "effect" and spec.n_in == 1 and spec.n_out == 1 and spec.output == "linear":
        return "effect"
    if spec.mode == "memorize" and spec.n_in == 0 and spec.n_out == 1 and spec.output == "linear":
        return "memorize"
    if spec.autoregressive:
        return "autoregressive"
    raise CwfastError(
        f"an LV2 plug-in needs a mono effect, memorize or autoregressive model; this one is {_article(spec.mode)} "
        f"{spec.mode} model with {spec.n_in} inputs and {spec.n_out} {spec.output} outputs"
    )


def _article(word):
    return "an" if word[:1] in "aeiou" else "a"


def uri(name):
    return f"urn:cwfast:{name}"


#: The largest seed a generator's seed port takes: every whole number up to it is a float.
SEED_MAX = float(2**24)
#: connect_port's cases for an autoregressive plug-in's control ports.
_AR_PORTS = """    case port__temperature:
        p->temperature = (const float *)data;
        break;
    case port__seed:
        p->seed = (const float *)data;
        break;
"""


def _plugin_c(spec, kind):
    N = spec.name
    # Names no NAME_ identifier can be (a NAME has no "__"), so that no model's macro shadows them.
    ports = {"effect": "port__out, port__in", "memorize": "port__out", "autoregressive": "port__out, port__temperature, port__seed"}[kind]
    if kind == "effect":
        run = f"    {N}_process(&p->state, p->in, p->out, (int)n);\n"
    elif kind == "memorize":
        run = f"""    uint32_t i;
    {N}_process(&p->state, NULL, p->out, (int)n);
    for (i = 0; i < n; i++)  /* the training level, as 'cwfast generate' writes it */
        p->out[i] = (float)((double)p->out[i] * {N}_SCALE);
"""
    else:
        run = f"""    if (p->temperature && *p->temperature != p->last_temperature) {{
        double t;
        p->last_temperature = *p->temperature;
        t = p->last_temperature < 0.0f ? 0.0 : (double)p->last_temperature;
        if (p->last_temperature == (float){N}_TEMPERATURE)
            t = {N}_TEMPERATURE;  /* the port's float of the model's temperature (0.85 is not a float): the model's own */
        {N}_set_temperature(&p->state, t);
    }}
    if (p->seed) {{  /* two instances with two seeds: two voices, not one voice twice */
        float v = *p->seed;
        v = v == v && v > 0.0f ? v : 0.0f;  /* NaN is 0 */
        v = v < {SEED_MAX!r}f ? v : {SEED_MAX!r}f;
        v = (float)(uint32_t)v;  /* the seed is the whole number: 5.5 and 5 are one seed, not a new stream */
        if (v != p->last_seed) {{  /* a new seed (the first after activation included): a new stream */
            p->last_seed = v;
            {N}_seed(&p->state, (uint64_t)v);
        }}
    }}
    {N}_generate(&p->state, p->out, (int)n);
"""
    return f"""/* {N}_lv2.c: the LV2 plug-in {uri(N)} around the exported model {N}.h (generated by cwfast). */
#include <stdio.h>
#include <stdlib.h>
#if defined(__has_include)
#if __has_include(<lv2/core/lv2.h>)
#include <lv2/core/lv2.h>
#else
#include <lv2/lv2plug.in/ns/lv2core/lv2.h>   /* the LV2 headers before 1.18 */
#endif
#else
#include <lv2/core/lv2.h>
#endif
#include "{N}.h"

enum {{ {ports} }};

typedef struct {{
    {N}_state state;
    float *in;
    float *out;
    const float *temperature;
    float last_temperature;
    const float *seed;
    float last_seed;
}} Plugin;

static LV2_Handle instantiate(const LV2_Descriptor *descriptor, double rate, const char *bundle_path,
                              const LV2_Feature *const *features)
{{
    Plugin *p;
    (void)descriptor;
    (void)bundle_path;
    (void)features;
    /* Refuse another rate rather than resample: see cwfast/export/lv2.py for why. */
    if ({N}_SAMPLE_RATE != 0 && rate != (double){N}_SAMPLE_RATE) {{
        fprintf(stderr, "{uri(N)}: the host runs at %.0f Hz but this model was trained at %d Hz; "
                "run the session at %d Hz\\n", rate, {N}_SAMPLE_RATE, {N}_SAMPLE_RATE);
        return NULL;
    }}
    p = (Plugin *)calloc(1, sizeof(Plugin));
    if (p)
        {N}_reset(&p->state);
    return (LV2_Handle)p;
}}

static void connect_port(LV2_Handle instance, uint32_t port, void *data)
{{
    Plugin *p = (Plugin *)instance;
    switch (port) {{
    case port__out:
        p->out = (float *)data;
        break;
{"    case port__in:" + chr(10) + "        p->in = (float *)data;" + chr(10) + "        break;" + chr(10) if kind == "effect" else ""}{_AR_PORTS if kind == "autoregressive" else ""}    default:
        break;
    }}
}}

static void activate(LV2_Handle instance)
{{
    Plugin *p = (Plugin *)instance;
    {N}_reset(&p->state);
    p->last_temperature = -1.0f;  /* read the ports again at the next run */
    p->last_seed = -1.0f;
}}

/* Real-time: no allocation, lock or I/O; the model's own code has none either. */
static void run(LV2_Handle instance, uint32_t n)
{{
    Plugin *p = (Plugin *)instance;
{run}}}

static void cleanup(LV2_Handle instance)
{{
    free(instance);
}}

static const void *extension_data(const char *uri)
{{
    (void)uri;
    return NULL;
}}

static const LV2_Descriptor descriptor = {{
    "{uri(N)}", instantiate, connect_port, activate, run, NULL, cleanup, extension_data
}};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{{
    return index == 0 ? &descriptor : NULL;
}}
"""


#: The plug-in's version, as LV2 reads it (minor.micro; even: a release, not a development build).
#: It versions the ports cwfast's wrapper gives a plug-in, not the model: raised by 2 when they
#: change (2: the generators' seed port), so that a host sees that a bundle's interface moved.
LV2_MINOR_VERSION = 2

_PREFIXES = """@prefix doap: <http://usefulinc.com/ns/doap#> .
@prefix lv2: <http://lv2plug.in/ns/lv2core#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""


def _manifest(name):
    return _PREFIXES + f"""
<{uri(name)}>
    a lv2:Plugin ;
    lv2:binary <{name}.so> ;
    rdfs:seeAlso <{name}.ttl> .
"""


def check_license(license):
    """``license`` (an IRI naming the plug-in's licence, such as
    ``https://spdx.org/licenses/CC-BY-4.0``) as the TTL can hold it, or None. A model's licence is
    its maker's to give (its weights come from their audio), so none is written unless given."""
    if license is None:
        return None
    # A scheme, then printable ASCII but what Turtle's IRIREF forbids (<>"{}|\^` and, below
    # 0x21, spaces and control characters); the TTL is written in ASCII.
    if not isinstance(license, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[!#-;=?-\[\]_a-z~]+", license):
        raise ParameterError(f"license={license!r} must be an IRI (a scheme, a colon, then printable ASCII with no "
                             "spaces and none of <>\"{}|^`\\), such as 'https://spdx.org/licenses/CC-BY-4.0'")
    return license


#: The longest maintainer's name taken (a name, not a text).
MAINTAINER_MAX = 200
#: The longest e-mail address taken: RFC 5321's limit on a path, 256 characters with its <>.
ADDRESS_MAX = 254


def check_maintainer(maintainer):
    """``maintainer`` (``"Name"`` or ``"Name <address>"``, written as the plug-in's
    ``doap:maintainer``, a foaf:Person, which lv2lint asks for) as (name, address or None), or None.
    """
    if maintainer is None:
        return None
    refusal = ParameterError(f"maintainer={maintainer!r} must be a name, printable and at most {MAINTAINER_MAX} "
                             f"characters, optionally followed by an e-mail address (at most {ADDRESS_MAX}) in <>, "
                             "such as 'Ada Lovelace <ada@example.org>'")
    if not isinstance(maintainer, str):
        raise refusal
    # An address in <> becomes the mailbox's IRI: ASCII, none of what Turtle's IRIREF forbids.
    found = re.fullmatch(r"(.*?)\s*<([!#-;=?-\[\]_a-z~]+@[!#-;=?-\[\]_a-z~]+)>", maintainer.strip())
    name, address = (found.group(1), found.group(2)) if found else (maintainer.strip(), None)
    if not name or len(name) > MAINTAINER_MAX or not name.isprintable() or "<" in name or ">" in name:
        raise refusal
    if address is not None and len(address) > ADDRESS_MAX:
        raise refusal
    return name, address


def _turtle_string(text):
    """``text`` as a Turtle string literal in ASCII: quotes and backslashes escaped, and every
    character beyond ASCII as its \\u or \\U escape (the TTL is written in ASCII)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 128:
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


def _plugin_ttl(spec, kind, license=None, maintainer=None):
    N = spec.name
    out = """[
        a lv2:AudioPort, lv2:OutputPort ;
        lv2:index 0 ;
        lv2:symbol "out" ;
        lv2:name "Out"
    ]"""
    ports = [out]
    if kind == "effect":
        ports.append("""[
        a lv2:AudioPort, lv2:InputPort ;
        lv2:index 1 ;
        lv2:symbol "in" ;
        lv2:name "In"
    ]""")
    if kind == "autoregressive":
        ports.append(f"""[
        a lv2:ControlPort, lv2:InputPort ;
        lv2:index 1 ;
        lv2:symbol "temperature" ;
        lv2:name "Temperature" ;
        lv2:default {spec.temperature!r} ;
        lv2:minimum 0.0 ;
        lv2:maximum {max(2.0, spec.temperature)!r}
    ]""")
        ports.append(f"""[
        a lv2:ControlPort, lv2:InputPort ;
        lv2:index 2 ;
        lv2:symbol "seed" ;
        lv2:name "Seed" ;
        lv2:portProperty lv2:integer ;
        lv2:default 0.0 ;
        lv2:minimum 0.0 ;
        lv2:maximum {SEED_MAX!r}
    ]""")
    klass = "lv2:SimulatorPlugin" if kind == "effect" else "lv2:GeneratorPlugin"
    licence = f"\n    doap:license <{license}> ;" if license else ""
    if maintainer is not None:
        name, address = maintainer
        mailbox = "" if address is None else f" ;\n        foaf:mbox <mailto:{address}>"
        licence += (f"\n    doap:maintainer [\n        a foaf:Person ;\n        foaf:name {_turtle_string(name)}"
                    f"{mailbox}\n    ] ;")
    prefixes = _PREFIXES if maintainer is None else _PREFIXES + "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n"
    rate = f"at {spec.sample_rate} Hz only" if spec.sample_rate else "at any rate"
    return prefixes + f"""
<{uri(N)}>
    a lv2:Plugin, {klass} ;
    doap:name "{N} (cwfast {kind} model)" ;{licence}
    rdfs:comment "{_article(kind).capitalize()} {kind} model exported by cwfast; runs {rate}." ;
    lv2:minorVersion {LV2_MINOR_VERSION} ;
    lv2:microVersion 0 ;
    lv2:optionalFeature lv2:hardRTCapable ;
    lv2:port {", ".join(ports)} .
"""


def export_lv2(model, directory, name=None, *, overwrite=False, cc=None, cflags=None, license=None,
               maintainer=None):
    """Write and build ``DIRECTORY/NAME.lv2/``: an LV2 plug-in of an effect, memorize or
    autoregressive model (see the module docstring for what each becomes and the rate policy).

    Parameters
    ----------
    model, directory, name, overwrite
        As for :func:`cwfast.export_c`.
    cc : str, optional
        The C compiler. Default: ``$CC``, else ``cc``, ``gcc`` or ``clang``.
    cflags : list of str, optional
        Replaces :data:`CFLAGS` (``-shared -fPIC`` are needed). The compiler runs in the current
        folder: relative paths in ``cc`` and ``cflags`` (``-Ivendor/lv2``) are read from there.
    license : str, optional
        The plug-in's licence as an IRI (``doap:license`` in its TTL, which hosts and lv2lint read),
        such as ``"https://spdx.org/licenses/CC-BY-4.0"``. Default: none written.
    maintainer : str, optional
        Who maintains the plug-in, ``"Name"`` or ``"Name <address>"`` (``doap:maintainer`` in its
        TTL, a foaf:Person with a name and a mailbox, which lv2lint asks for). Default: none written.

    Returns
    -------
    Path
        The bundle directory.

    Raises
    ------
    CwfastError
        If the model makes no plug-in, there is no C compiler, the build fails (the LV2 headers,
        Debian's ``lv2-dev``, are missing, say), or the bundle exists and ``overwrite`` is False.
        Nothing is left behind on failure, and an old bundle is replaced only by one that built.
    ParameterError
        If the bundle would overwrite the model file being exported.
    """
    from .._atomic import replace_together

    build, bundle, target = build_bundle(model, directory, name, overwrite=overwrite, cc=cc, cflags=cflags,
                                         license=license, maintainer=maintainer)
    try:
        replace_together([(build, target)], what="LV2 bundle")
    finally:
        shutil.rmtree(build, ignore_errors=True)  # gone already once it is in place
    return bundle


#: A compiler driver's summary of a failed link, which says only that the linker failed.
_LINK_SUMMARY = re.compile(r"collect2: error: ld returned|linker command failed")
#: The linker's line that says why (GNU ld, gold, lld, Apple's ld), not one that gives the place
#: (".../ld: x.o: in function `_start':", which ends in a colon).
_LINKER_REASON = re.compile(r"\bld(\.\w+)?: |undefined reference|multiple definition")


def _reasons(lines):
    """The lines of a failed build's output that say why, first first: the compiler's errors, else
    the linker's reason rather than the driver's summary of it (collect2's 'ld returned 1 exit
    status'), else whatever it printed."""
    reasons = [line for line in lines if not _LINK_SUMMARY.search(line)]
    return ([line for line in reasons if "error" in line]
            or [line for line in reasons if _LINKER_REASON.search(line) and not line.rstrip().endswith(":")]
            or [line for line in lines if "error" in line] or lines)


def build_bundle(model, directory, name=None, *, overwrite=False, cc=None, cflags=None, license=None,
                 maintainer=None):
    """Build the bundle :func:`export_lv2` writes in a temporary folder: returns (that folder,
    ``DIRECTORY/NAME.lv2``, where the bundle belongs). The caller renames it into place (the command
    line does, with the C files, all together) or removes it. Raises as :func:`export_lv2` does,
    leaving nothing.

    Where ``DIRECTORY/NAME.lv2`` is a symbolic link to a folder (a bundle installed in ``~/.lv2``,
    say), the bundle belongs in that folder's place and is built beside it, so that the rename stays
    within one file system; the link stays a link, as a C file's does."""
    from .. import validate
    from . import _check_directory, _codegen, _refuse_the_model, _resolve

    overwrite = validate.flag("overwrite", overwrite)
    if cc is not None and not isinstance(cc, str):
        raise ParameterError(f"cc={cc!r} must be the compiler's command as a string, such as 'gcc' or 'ccache gcc'")
    if cflags is not None and not (isinstance(cflags, (list, tuple)) and all(isinstance(f, str) for f in cflags)):
        raise ParameterError(f"cflags={cflags!r} must be a list of the compiler's options, such as ['-O2', '-fPIC']")
    license = check_license(license)
    maintainer = check_maintainer(maintainer)
    source = model
    model, name = _resolve(model, name)
    directory = _check_directory(directory)
    spec = _codegen.Spec(model, name)
    kind = kind_of(spec)
    bundle = directory / f"{name}.lv2"
    _refuse_the_model(source, [bundle])
    files = {
        "manifest.ttl": _manifest(name),
        f"{name}.ttl": _plugin_ttl(spec, kind, license, maintainer),
        f"{name}.h": _codegen.header(spec),
        f"{name}.c": _codegen.source(spec),
        f"{name}_lv2.c": _plugin_c(spec, kind),
    }
    if os.path.lexists(bundle):
        if not overwrite:
            raise CwfastError(f"'{bundle}' exists; pass overwrite=True (CLI: --overwrite) to replace it")
        # Replacing the bundle replaces the folder: never with files in it that cwfast did not write.
        foreign = sorted(set(os.listdir(bundle)) - {*files, f"{name}.so"}) if bundle.is_dir() else []
        if foreign:
            listed = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise CwfastError(f"'{bundle}' holds files cwfast did not write ({listed}); move them out, or "
                              "remove the bundle, before replacing it")
    compiler = find_compiler(cc)
    target = Path(os.path.realpath(bundle)) if os.path.islink(bundle) and bundle.is_dir() else bundle
    try:
        build = Path(tempfile.mkdtemp(prefix=f".{name}.lv2.", dir=target.parent))
    except OSError as exc:
        raise CwfastError(f"cannot write '{bundle}': {exc.strerror or exc}") from None
    try:
        for file, text in files.items():
            (build / file).write_text(text, encoding="ascii")
        # The compiler runs in the caller's folder, as make runs it, so that relative paths in cc
        # and cflags (tools/cc, -Ivendor/lv2) name what they name there; the build folder's files
        # are given by their absolute paths.
        where = os.path.abspath(build)
        command = [*compiler, *(CFLAGS if cflags is None else cflags), "-o", os.path.join(where, f"{name}.so"),
                   os.path.join(where, f"{name}.c"), os.path.join(where, f"{name}_lv2.c"), "-lm"]
        # The compiler's temporaries (the driver's .s and .o files) go in the build folder, which
        # is removed whatever happens: a Ctrl-C kills the driver, which then cannot remove its own
        # from /tmp (11 MB each time).
        scratch = {var: where for var in ("TMPDIR", "TMP", "TEMP")}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, **scratch})
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CwfastError(f"cannot run the C compiler '{' '.join(compiler)}': {exc}") from None
        if done.returncode != 0:
            # (the build folder's path left out: it is gone when the message is read)
            stderr = done.stderr.replace(where + os.sep, "")
            errors = _reasons(stderr.splitlines())
            first = errors[0].strip() if errors else f"exit status {done.returncode}"
            hint = " (install the LV2 headers: apt-get install lv2-dev)" if "lv2.h" in stderr else ""
            raise CwfastError(f"building the LV2 plug-in failed: {first}{hint}")
        if not (build / f"{name}.so").is_file():  # exit status 0 without linking (cc -fsyntax-only): no plug-in
            raise CwfastError(f"building the LV2 plug-in failed: '{' '.join(compiler)}' exited 0 but wrote no "
                              f"{name}.so")
        os.chmod(build, default_permissions(directory=True))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(build)
        if isinstance(exc, OSError):  # writing the sources: a full disk, say
            raise CwfastError(f"cannot write '{bundle}': {exc.strerror or exc}") from None
        raise
    return build, bundle, target
