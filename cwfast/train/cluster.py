"""The evolution strategy's population scored on a Ray cluster: ``evolve(..., cluster="ray")``.

The driver (the process that calls :func:`cwfast.train.evolve`) keeps the centre, the ranks and the
optimizer. Ray actors, one per node by default, each hold a copy of the model, the training data
(shipped once, through Ray's object store) and the run's noise table, which each actor rebuilds
from the seed (it is never shipped). Every generation the driver puts the centre into the object
store once and asks each actor for the losses of one contiguous range of antithetic pairs (the
last range also holds the centre). The actor finds those pairs' directions in its table from
(seed, generation, pair) exactly as the driver does, scores them with the same numba population
kernel as a local run on all the cores Ray gave it, and returns the losses only: 8 bytes per
member back, the centre (8 bytes per parameter) out. A member's loss does not depend on the actor,
the lane or the chunk that scored it, so a run gives the same bits whatever the number of actors,
and the same as a local run, on one kind of CPU.

Faults: an actor that dies (its process killed or crashed, its node lost) has its range scored
again, in the same generation, by a live actor, and a replacement actor is started that takes
work from the generation after it is ready. Actors are created with ``max_restarts=0`` on
purpose: Ray would otherwise queue the dead actor's next calls until it restarts, and a restart
that cannot be placed (a lost node) would hold up every generation; the replacement here does
the restart's job without blocking the run. The actors end with the run, also on Ctrl-C, SIGTERM
or an error. Connection: an existing ``ray.init`` of the calling program is used as it is; otherwise
``RAY_ADDRESS`` names the cluster to join; without it, a local Ray instance starts on 127.0.0.1
(no dashboard) for the run and stops after it. Its processes run in a session of their own, so
that a signal to the command's process group reaches the driver alone, which stops them; Ctrl-C
and SIGTERM during its start are held until it has started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid

import numpy as np

from .._bars import apart_from_bars
from ..errors import CwfastError

__all__ = ["STARTING", "RayScorer", "import_ray"]

logger = logging.getLogger(__name__)

#: Seconds to wait for the first actor to be ready (process start, imports, numba cache load or
#: compilation, noise table) before giving up on the cluster.
START_TIMEOUT = 600.0
#: Seconds to wait for a replacement when every actor has died.
REPLACE_TIMEOUT = 600.0
#: Centres smaller than this travel inside each call rather than through the object store.
INLINE_BYTES = 64 * 1024
#: Ray's switch for the platforms where it keeps a local instance on the loopback address; read
#: once, when ray is imported.
_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: The note :class:`RayScorer` gives its ``on_note`` just before a local Ray instance starts: the
#: start takes seconds (up to a minute on a loaded machine) in which nothing else is said.
STARTING = ("starting a local Ray instance for the evolution strategy (a few seconds; RAY_ADDRESS=ADDRESS joins a "
            "running cluster instead)")


#: Ray's notice, when it starts a local instance, that it turned token authentication on (its
#: default; "Set RAY_AUTH_MODE=disabled to opt out"): a warning on stderr at every run, about an
#: instance cwfast starts on the loopback address and stops when the run ends. Ray's other
#: warnings pass; if Ray renames either, nothing is dropped.
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
#: Ray's switch for token authentication ("token", "disabled"; unset: Ray decides).
_AUTH_MODE = "RAY_AUTH_MODE"
_AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"


class _DropNotice(logging.Filter):
    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def filter(self, record):
        return not record.getMessage().startswith(self._prefix)


@contextlib.contextmanager
def _without_notice(logger_name, prefix):
    """Within the block, the log records of ``logger_name`` that start with ``prefix`` are dropped."""
    logger = logging.getLogger(logger_name)
    notice = _DropNotice(prefix)
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


@contextlib.contextmanager
def _processes_apart(ray):
    """Within the block, the processes Ray starts (its GCS, raylet and agents; the raylet's workers
    follow it) get a session, and so a process group, of their own.

    A signal sent to the command's process group (what ``timeout`` and a cancelled job send) then
    reaches the driver alone, as Ctrl-C's does in effect (Ray blocks SIGINT in them), and the driver
    stops them in order. SIGTERM to the group killed Ray's agents and workers and set the raylet
    draining under the driver, which then waited for them: 30 s in ``ray.init``, 8 s in
    ``ray.shutdown``. Only where the kernel ends them with the driver (Linux's PR_SET_PDEATHSIG,
    which Ray sets), as Ray itself gives them a group of their own on Windows; elsewhere, or if Ray
    has renamed what is changed here, they stay in the group.
    """
    try:
        services = ray._private.services
        popen = services.ConsolePopen
        apart = sys.platform != "win32" and ray._private.utils.detect_fate_sharing_support()
    except AttributeError:
        apart = False
    if not apart:
        yield
        return

    class Popen(popen):
        def __init__(self, *args, **kwargs):
            kwargs["start_new_session"] = True
            super().__init__(*args, **kwargs)

    services.ConsolePopen = Popen
    try:
        yield
    finally:
        services.ConsolePopen = popen


#: How the raylet's line for a dead worker starts (Ray 2.60): one of cwfast's actors, whose death
#: cwfast reports itself ("Ray actor NAME died (CAUSE)"), the only workers of its job.
_WORKER_DIED = "A worker died or was killed"
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _raylet_lines_in_cwfast_words(ray):
    """Until the function returned is called, the lines Ray's driver prints for the raylet are
    said as cwfast's: 'cwfast: Ray: ...', on stderr, on one line, without terminal colour codes,
    once each; the raylet's line for a dead worker is left to cwfast's own warning.

    Ray prints them from a thread that every driver runs, whatever ``log_to_driver`` says, to
    stdout (where the command line's results go), in colour, as "(raylet) A worker died or was
    killed ... Lease ID: ... Worker ID: ...": a second report of an actor's death, beside
    cwfast's, in Ray's terms. Each line starts a line of its own, not after the progress bar's text
    (:func:`cwfast._bars.apart_from_bars`). Looked up by name at each message, so replacing the
    module's function reaches the thread; if Ray has renamed it, nothing changes, and if it
    rewords the dead worker's line, that line is said too.
    """
    try:
        module = ray._private.worker
        original = module.print_to_stdstream
    except AttributeError:
        return lambda: None
    said = set()

    def in_cwfast_words(data, *args, **kwargs):
        if not (isinstance(data, dict) and data.get("pid") == "raylet"):
            return original(data, *args, **kwargs)
        for line in data.get("lines", ()):
            text = " ".join(_COLOUR.sub("", str(line)).split())
            if not text or text.startswith(_WORKER_DIED) or text in said:
                continue
            said.add(text)
            with apart_from_bars(sys.stderr):  # not after the text of the progress bar there
                print(f"cwfast: Ray: {text}", file=sys.stderr, flush=True)

    module.print_to_stdstream = in_cwfast_words

    def restore():
        if module.print_to_stdstream is in_cwfast_words:
            module.print_to_stdstream = original

    return restore


class _HeldSignals:
    """Ctrl-C and SIGTERM held while ``ray.init`` starts a local instance; the caller's SIGTERM
    handler kept while it joins a cluster (a context manager; main thread only).

    Interrupted inside its start, Ray left its agents running for a minute and sometimes crashed
    the exit (status 139): each signal is noted, and :meth:`act` passes it on once ray.init has
    returned (and Ray has been shut down, or is shut down by the exception it raises). A second
    Ctrl-C is raised at once, as the user insists; a SIGTERM is only noted however often it comes
    (``timeout`` signals the process and then its group). Ray's own SIGTERM handler, which ray.init
    installs (``sys.exit(15)``: exit status 15, no message, no checkpoint, or nothing at all when the
    exit lands in a callback that ignores exceptions), is not installed: the handler in place before
    stays the one that acts, as without Ray.
    """

    def __init__(self, ray, *, local):
        self._ray = ray
        self._setter = None  # Ray's set_sigterm_handler, while it is replaced (main thread only)
        self._local = local
        self._previous = {}
        self._insist = True
        self.noted = []

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        self._previous[signal.SIGTERM] = signal.getsignal(signal.SIGTERM)
        if self._local:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._note)
            if self._previous[signal.SIGTERM] not in (signal.SIG_IGN, None):  # None: set outside Python
                signal.signal(signal.SIGTERM, self._note)
        utils = getattr(getattr(self._ray, "_private", None), "utils", None)
        self._setter = getattr(utils, "set_sigterm_handler", None)
        if self._setter is not None:
            utils.set_sigterm_handler = lambda handler: None
        return self

    def _note(self, signum, frame):
        if signum == signal.SIGINT and signum in self.noted and self._insist:
            raise KeyboardInterrupt
        if signum not in self.noted:
            self.noted.append(signum)

    def __exit__(self, *exc):
        if self._setter is not None:
            self._ray._private.utils.set_sigterm_handler = self._setter
        # Noted, not raised, from here: signal.signal runs the handlers of pending signals first,
        # and one that raised would leave the rest of the handlers unrestored.
        self._insist = False
        for signum, handler in self._previous.items():
            if handler is not None and signal.getsignal(signum) is not handler:
                signal.signal(signum, handler)
        return False

    def act(self, shut_down):
        """Pass on what was held: SIGTERM to the handler that was in place (the command line's
        raises, and the caller then stops what Ray started; Python's default ends the process, as it
        would have, once ``shut_down()`` has stopped Ray), then a Ctrl-C as KeyboardInterrupt."""
        if signal.SIGTERM in self.noted:
            handler = self._previous[signal.SIGTERM]
            if callable(handler):
                handler(signal.SIGTERM, None)
            elif handler == signal.SIG_DFL:
                shut_down()
                signal.raise_signal(signal.SIGTERM)
        if signal.SIGINT in self.noted:
            raise KeyboardInterrupt


def import_ray():
    """Import and return the ``ray`` module, or raise CwfastError saying how to install it.

    Without ``RAY_ADDRESS`` and before ray is first imported, ray is imported so that a local
    instance started by :class:`RayScorer` listens on 127.0.0.1 only: by default a Linux ``ray.init()``
    binds its services to the machine's network address, and a cluster that lives for one run on
    one machine has no business there. (Ray reads that choice once per process, at import; a
    program that imported ray itself keeps Ray's default.)
    """
    if "ray" in sys.modules or os.environ.get("RAY_ADDRESS"):
        return _import_ray()
    before = os.environ.get(_LOOPBACK_SWITCH)
    os.environ[_LOOPBACK_SWITCH] = "0"
    try:
        return _import_ray()
    finally:
        if before is None:
            os.environ.pop(_LOOPBACK_SWITCH, None)
        else:
            os.environ[_LOOPBACK_SWITCH] = before


def _import_ray():
    try:
        import ray
    except ImportError:
        raise CwfastError("cluster='ray' needs Ray, which is not installed: pip install 'ray[default]' (or, in "
                          "cwfast's folder, '.[cluster]')") from None
    return ray


class _Scorer:
    """What a Ray actor holds and does (made a Ray actor class by :class:`RayScorer`).

    Built once per actor: the model, the data (read-only arrays from the object store are copied,
    so that the numba kernels see the same array types as in the driver and load their cached
    compilations), the noise table from ``entropy``; then one pair and the centre are scored, so
    that the kernels are compiled (or loaded from numba's cache) before the actor is ready.
    """

    def __init__(self, model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec, threads):
        from . import es

        self.model = model
        self.x3 = np.array(x3)
        self.y_target = np.array(y_target)
        self.labels = np.array(labels)
        self.readout = readout
        self.sigma = sigma
        self.entropy = entropy
        self.size = size
        self.n_pairs = n_pairs
        self.period_spec = period_spec
        self.threads = threads
        self.table = es.noise_table(entropy, size)
        # The run's clock (its time budget) starts once the first actor is ready: compiled in the
        # first generation, a new installation's kernels (23 s on a 2-core Xeon) were charged to
        # it, where a local run leaves its compiling out. The same argument types as a
        # generation's call, so the same compiled kernels; the losses are not used.
        self.score(0, es.start_theta(model, size, period_spec), 0, 1, True)

    def ready(self):
        """Called once after construction: the driver gives work to an actor only after this returns."""
        return os.getpid()

    def score(self, generation, theta, start, stop, centre):
        """Losses of the members of pairs ``start..stop-1`` of ``generation`` around ``theta``
        (``2 * (stop - start)`` values, + then - of each pair), then of ``theta`` itself if ``centre``."""
        import numba

        from . import es

        # numba's thread count is per calling thread; Ray may call from any of its threads.
        numba.set_num_threads(max(1, min(self.threads, numba.config.NUMBA_NUM_THREADS)))
        # A writable copy: an argument Ray hands over may be a read-only view, which numba would
        # compile a second version of its kernel for.
        theta = np.array(theta)
        offsets = es.pair_offsets(self.entropy, generation, self.n_pairs, self.table.size, self.size)[start:stop]
        noise = es.pair_noise(self.table, offsets, self.size)
        losses = np.empty(2 * (stop - start) + (1 if centre else 0))
        es._score_members(self.model, theta, noise, self.sigma, self.x3, self.y_target, self.labels, self.readout,
                          self.period_spec, losses)
        return losses


#: Seconds to wait for a TCP connection to RAY_ADDRESS before Ray's own connect (which retries for
#: about 14 minutes against an address where nothing listens).
PROBE_TIMEOUT = 5.0


def _probe(address, timeout=PROBE_TIMEOUT):
    """CwfastError at once if ``address`` names a host and port (``host:port``, ``ray://host:port``)
    where nothing accepts a TCP connection; other forms ("auto", "local") are Ray's to resolve."""
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    host = host.strip("[]")
    try:
        connection = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CwfastError(f"cannot join the Ray cluster at RAY_ADDRESS={address}: nothing answers at {host}:{port} "
                          f"({reason}); is the cluster's head running there?") from None
    with connection:
        reply = _first_frame(connection)
    # A Ray head's GCS and client server speak gRPC: HTTP/2, whose first frame from the server is
    # SETTINGS (type 4). A web or SSH server there left Ray retrying for minutes. No reply, or a
    # TLS alert (a cluster with TLS), is left to Ray.
    if reply and reply[0] != 0x15 and (len(reply) < 9 or reply[3] != 4):
        text = reply.decode("ascii", "replace").strip()
        shown = text if text.isprintable() else reply.hex()
        raise CwfastError(f"cannot join the Ray cluster at RAY_ADDRESS={address}: something answers at {host}:{port}, "
                          f"but not Ray (it said {shown!r}); give the head's GCS port (6379 by default) or its "
                          "ray:// client port (10001)")


#: How long the probe waits for a server's first frame: a gRPC server sends it at once.
REPLY_TIMEOUT = 1.0


def _first_frame(connection):
    """Up to 9 bytes (an HTTP/2 frame header) a server sends after an HTTP/2 client preface and an
    empty SETTINGS frame, or b"" if it says nothing within REPLY_TIMEOUT."""
    reply = b""
    try:
        connection.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        connection.settimeout(REPLY_TIMEOUT)
        while len(reply) < 9:
            chunk = connection.recv(9 - len(reply))
            if not chunk:
                break
            reply += chunk
    except OSError:  # (a timeout included) nothing more to judge by
        pass
    return reply


def _shut_down(ray):
    """ray.shutdown() after a start that did not finish, whatever it left (it may raise)."""
    try:
        ray.shutdown()
    except Exception:  # half started: nothing more to stop
        pass


def _root_cause(exc, limit=300):
    """What a Ray error says went wrong, in one line: the last line of its text (Ray puts the
    actor's own exception, an ImportError on a node without cwfast say, after the traceback), its
    terminal colour codes removed, at most ``limit`` characters (a longer one cut after a word,
    with "...", not mid-word without a sign)."""
    lines = [line.strip() for line in _COLOUR.sub("", str(exc)).splitlines() if line.strip()]
    text = " ".join((lines[-1] if lines else type(exc).__name__).split())
    return text if len(text) <= limit else text[: limit - 2].rsplit(" ", 1)[0].rstrip() + "..."


class RayScorer:
    """Scores the members of each generation on Ray actors; a context manager (the actors live
    inside its ``with`` block).

    Parameters
    ----------
    model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec
        What :func:`cwfast.train.es._score_members` needs, as :func:`cwfast.train.evolve` has them.
    actors : int, optional
        Number of actors. Default: one per node of the cluster that has CPUs.
    on_note : callable, optional
        Called with :data:`STARTING` just before a local Ray instance starts.
    """

    def __init__(self, model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec,
                 actors=None, on_note=None):
        self._ray = import_ray()
        self._on_note = on_note
        self._args = (model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec)
        self._n_actors = actors
        self._n_pairs = n_pairs
        self._started_ray = False
        self._restore_stdout = None  # puts back where Ray prints the raylet's lines (a Ray we connect to)
        self._live = []  # [actor, cpus, name], ready to score
        self._starting = {}  # ready() ref -> [actor, cpus, name]
        self._replacements = 0
        self._futures = {}
        self._tag = uuid.uuid4().hex[:8]
        self._count = 0
        #: Figures for benchmarks: bytes sent to and received from actors (serialised arrays),
        #: scoring calls made, seconds the driver spent waiting for losses.
        self.stats = {"bytes_out": 0, "bytes_in": 0, "calls": 0, "wait_seconds": 0.0, "actors_lost": 0}

    # ------------------------------------------------------------------ lifetime

    def __enter__(self):
        ray = self._ray
        try:
            self._connect()
            model, x3, y_target, labels, *rest = self._args
            # Data once into the object store: it crosses the network once per node, and each
            # actor copies it into arrays of its own.
            self._remote_args = (model, ray.put(x3), ray.put(y_target), ray.put(labels), *rest)
            self._actor_class = ray.remote(_Scorer)
            self._cpus = self._plan()
            for _ in range(self._n_actors):
                self._start_actor()
            self._admit(timeout=START_TIMEOUT, at_least=1)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _connect(self):
        ray = self._ray
        if ray.is_initialized():
            return
        address = os.environ.get("RAY_ADDRESS")
        if address:
            _probe(address)
        # Ray's INFO lines ("Started a local Ray instance", "Connecting to existing Ray cluster")
        # went to stderr even under --quiet, and before a refusal's one line; its warnings still do.
        # log_to_driver=False: Ray printed its workers' lines to stdout, where the command line's
        # results go; evolve reports what it needs. The raylet's ("(raylet) A worker died ...", in
        # colour) Ray prints whatever log_to_driver says: _raylet_lines_in_cwfast_words.
        quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
        if not address and self._on_note is not None:
            self._on_note(STARTING)
        held = _HeldSignals(ray, local=not address)
        self._restore_stdout = _raylet_lines_in_cwfast_words(ray)
        try:
            with held:
                if address:
                    ray.init(address=address, **quiet)
                else:
                    # address="local": a new instance even if `ray start` left one running here (join
                    # that one with RAY_ADDRESS=auto).
                    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
                    with _without_notice(_AUTH_LOGGER, _AUTH_NOTICE), _processes_apart(ray):
                        ray.init(address="local", num_cpus=cpus or 1, include_dashboard=False, **quiet)
        except KeyboardInterrupt:  # a second Ctrl-C during the local start, or SIGTERM while joining
            _shut_down(ray)
            self._put_stdout_back()
            raise
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            self._put_stdout_back()
            if held.noted:  # a held signal is not lost to a failed start
                _shut_down(ray)
                held.act(lambda: None)
            where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray instance"
            hint = ""
            if address and isinstance(exc, ConnectionError) and os.environ.get(_AUTH_MODE) is None:
                # `ray start` turns token authentication on where ~/.ray/auth_token exists (any local
                # Ray start writes one); a driver that names the address does not, and Ray's reason
                # ("Unauthenticated") is in warnings of its own, before this line.
                hint = (f"; if the cluster uses token authentication (`ray start` turns it on where "
                        f"~/.ray/auth_token exists), set {_AUTH_MODE}=token, with the head's token here")
            raise CwfastError(f"cannot start or join {where}: {' '.join(str(exc).split())}{hint}") from None
        self._started_ray = True
        # Held through ray.init: __enter__ closes (shuts Ray down) on what this raises.
        held.act(self.close)

    def _plan(self):
        """CPUs per actor, and the number of actors if not given: one actor per node with CPUs,
        each asking for as many CPUs as the smallest such node has, so that every one can be placed."""
        nodes = [n for n in self._ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
        if not nodes:
            raise CwfastError("the Ray cluster has no node with a CPU to run the evolution strategy's actors")
        if self._n_actors is None:
            self._n_actors = len(nodes)
            return int(min(n["Resources"]["CPU"] for n in nodes))
        total = sum(int(n["Resources"]["CPU"]) for n in nodes)
        return max(1, total // self._n_actors)

    def _start_actor(self):
        self._count += 1
        name = f"cwfast-es-{self._tag}-{self._count}"
        actor = self._actor_class.options(
            name=name, num_cpus=self._cpus, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD",
        ).remote(*self._remote_args, self._cpus)
        self._starting[actor.ready.remote()] = [actor, self._cpus, name]

    def _admit(self, timeout, at_least=0):
        """Move actors whose constructor has finished into the pool; wait up to ``timeout`` s
        until the pool has ``at_least`` actors (0: take only those ready now)."""
        ray = self._ray
        deadline = time.monotonic() + timeout
        while self._starting:
            wait = max(0.0, deadline - time.monotonic()) if len(self._live) < at_least else 0.0
            done, _ = ray.wait(list(self._starting), num_returns=1, timeout=wait)
            if not done:
                break
            entry = self._starting.pop(done[0])
            try:
                ray.get(done[0])
            except ray.exceptions.RayError as exc:
                self._lost(entry, exc, starting=True)
                continue
            self._live.append(entry)
        if len(self._live) < at_least and not self._starting:  # every one lost, no replacement left to wait for
            raise CwfastError(f"the evolution strategy's Ray actors were lost ({self.stats['actors_lost']}) and their "
                              f"replacements ({self._replacements}) are spent; a checkpoint of the run resumes it")
        if len(self._live) < at_least:
            raise CwfastError(
                f"no Ray actor of the evolution strategy is ready after {timeout:g} s (each asks for "
                f"{self._cpus} CPUs; the cluster has {ray.cluster_resources().get('CPU', 0):g})"
            )

    def _lost(self, entry, exc, starting=False):
        """An actor died: log it, start a replacement (a budget of two per actor asked for keeps a
        cluster that kills every actor, or a constructor that always fails, from churning forever)."""
        actor, _, name = entry
        self.stats["actors_lost"] += 1
        reason = _root_cause(exc)
        if starting and not self._live and self._replacements >= 2 * self._n_actors:
            raise CwfastError(f"the evolution strategy's Ray actors fail to start; the last error: {reason}")
        # With no handler configured (the command line's case) logging's last resort writes the
        # bare message to stderr, beside lines that all start 'cwfast: ': so does this one.
        with apart_from_bars():  # (logging's last resort, and most handlers, write to stderr, where the bar is)
            logger.warning("cwfast: Ray actor %s died (%s); its members are scored again elsewhere", name, reason)
        try:
            self._ray.kill(actor)
        except Exception:  # already gone
            pass
        if self._replacements < 2 * self._n_actors:
            self._replacements += 1
            self._start_actor()

    def close(self):
        """Stop the actors; disconnect from (or stop) a Ray that this object started."""
        ray = self._ray
        for actor, _, _ in self._live + list(self._starting.values()):
            try:
                ray.kill(actor)
            except Exception:  # already dead, or Ray is going down: nothing left to stop
                pass
        self._live, self._starting, self._futures = [], {}, {}
        if self._started_ray:
            self._started_ray = False
            ray.shutdown()
        self._put_stdout_back()

    def _put_stdout_back(self):
        if self._restore_stdout is not None:
            self._restore_stdout()
            self._restore_stdout = None

    # ------------------------------------------------------------------ one generation

    def submit(self, generation, theta):
        """Send generation ``generation``'s work around centre ``theta`` to the actors."""
        ray = self._ray
        self._admit(timeout=0)
        if not self._live:
            self._admit(timeout=REPLACE_TIMEOUT, at_least=1)
        self._generation = generation
        # A small centre travels inside each call (Ray inlines arguments under 100 KiB); a large
        # one goes into the object store once and each node fetches it once. A put costs about
        # 1 ms of the driver's time, the inline copy per actor microseconds.
        self._theta = theta.copy() if theta.nbytes < INLINE_BYTES else ray.put(theta)
        self._theta_bytes = theta.nbytes
        self._futures = {}
        # Contiguous ranges of pairs in proportion to the actors' CPUs; the centre goes with the last.
        weights = np.array([cpus for _, cpus, _ in self._live], dtype=np.float64)
        bounds = np.rint(np.concatenate([[0], np.cumsum(weights)]) / weights.sum() * self._n_pairs).astype(int)
        shares = [(int(a), int(b), False) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        shares[-1] = shares[-1][:2] + (True,)
        for i, share in enumerate(shares):
            self._send(share, self._live[i % len(self._live)])

    def _send(self, share, entry):
        start, stop, centre = share
        ref = entry[0].score.remote(self._generation, self._theta, start, stop, centre)
        self._futures[ref] = (share, entry)
        self.stats["calls"] += 1
        self.stats["bytes_out"] += self._theta_bytes

    def collect(self, losses):
        """Wait for the losses of the generation last submitted and write them into ``losses``
        (``2 * n_pairs + 1``: members, then the centre)."""
        ray = self._ray
        started = time.perf_counter()
        while self._futures:
            done, _ = ray.wait(list(self._futures), num_returns=1)
            for ref in done:
                share, entry = self._futures.pop(ref)
                try:
                    part = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    if entry in self._live:
                        self._live.remove(entry)
                        self._lost(entry, exc)
                    self._admit(timeout=0)
                    if not self._live:
                        self._admit(timeout=REPLACE_TIMEOUT, at_least=1)
                    # To the live actor with the least work still out.
                    busy = {id(e): 0 for e in self._live}
                    for _, e in self._futures.values():
                        busy[id(e)] = busy.get(id(e), 0) + 1
                    self._send(share, min(self._live, key=lambda e: busy[id(e)]))
                    continue
                self.stats["bytes_in"] += part.nbytes
                start, stop, centre = share
                losses[2 * start : 2 * stop] = part[: 2 * (stop - start)]
                if centre:
                    losses[-1] = part[-1]
        self.stats["wait_seconds"] += time.perf_counter() - started

    @property
    def actor_names(self):
        """Names of the actors now scoring (Ray named actors, in the driver's namespace)."""
        return [name for _, _, name in self._live]
