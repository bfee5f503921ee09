"""A plan's runs on a Ray cluster (`--launcher ray`) or a SLURM queue (`--launcher slurm`, through submitit).

The plan runner (launch.run_plan) keeps deciding what starts when: a run once its sources have finished, cached
runs skipped, `jobs` runs in flight, the same progress lines. What changes is where a run executes: each run is one
Ray task or one SLURM job calling the library's run (worker.run_in_worker), with the run's fixed thread count as
its CPUs and, where the cluster has GPUs (or `gpus_per_run` says so), one GPU. Ray and SLURM schedule, retry and
show the jobs (the Ray dashboard; the SLURM job ids in the plan's log): nothing here is a scheduler.

Every node must see the run folders at the same path (a shared file system): a run reads the folders of the runs
before it and the plan reads every run's results. Ray checks it on every node before the first run and refuses the
plan in one line otherwise. A worker killed mid-run (a lost node, an out-of-memory kill, a preempted job) is
retried: Ray's task retries, a new submitit job (and submitit's requeue on timeout or preemption); the new try
resumes from the run's newest complete checkpoint, or starts it afresh where there is none. A run refused for a
user error returns its one line and is not retried; a bug raises with its traceback.

`--launcher slurm-local` sends the same jobs to submitit's local executor (each run a process on this machine):
a SLURM plan tried out without a queue.
"""

import concurrent.futures
import os
import secrets
from pathlib import Path

from ..errors import SettingsError
from . import worker
from .runs import last_complete_checkpoint

# The cluster launchers and the optional extra each needs (pip install tlm-hf[EXTRA]).
CLUSTER_LAUNCHERS = {"ray": "ray", "slurm": "slurm", "slurm-local": "slurm"}
# How many times a run whose worker died is tried again (a run that failed for a user error or a bug never is).
RETRIES = 3


def _require(module: str, launcher: str):
    """The extra's module, or a one-line error naming the extra to install."""
    import importlib

    extra = CLUSTER_LAUNCHERS[launcher]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SettingsError(f"--launcher {launcher} needs the optional {module} package: "
                            f"pip install tlm-hf[{extra}]") from None


def run_on_node(stage: str, argv: list[str], log_file: str, cwd: str | None = None) -> str | None:
    """One run of the plan on a cluster worker, as worker.run_in_worker runs it (its one-line error or None).

    In the plan's working directory when the node has it (the plan's relative paths mean the same there); a try
    after a killed one resumes from the newest complete checkpoint that try left, if any."""
    output_dir = Path(argv[argv.index("--output_dir") + 1])
    before = os.getcwd()
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        if "--resume" not in argv and last_complete_checkpoint(output_dir / "checkpoints"):
            argv = [*argv, "--resume"]
        return worker.run_in_worker(stage, argv, log_file)
    finally:
        os.chdir(before)


def cluster_pool(launcher: str, *, jobs: int, threads: int | None, folders, allocator_env: dict,
                 ray_address: str | None = None, slurm_partition: str | None = None, slurm_time: int = 240,
                 gpus_per_run: int | None = None):
    """The pool run_plan submits its runs to (`submit(fn, stage, argv, log_file)` -> a concurrent Future): Ray
    tasks or submitit jobs. folders: the run folders of the plan (they must be on storage every node sees)."""
    if launcher == "ray":
        return RayPool(threads=threads, folders=folders, address=ray_address, gpus_per_run=gpus_per_run,
                       env=allocator_env)
    return SubmititPool(cluster="local" if launcher == "slurm-local" else "slurm", jobs=jobs, threads=threads,
                        partition=slurm_partition, minutes=slurm_time, gpus_per_run=gpus_per_run)


def _plan_folder(folders) -> Path:
    """The deepest folder holding every run folder of the plan (its output directory), absolute."""
    return Path(os.path.commonpath([str(Path(f).resolve()) for f in folders]))


# --- Ray --------------------------------------------------------------------------------------------------------


def _probe_storage(probe: str, token: str, node_id: str) -> str | None:
    """On one node: read the plan's probe file, then write a reply beside it (None), or say what failed."""
    import socket

    node = socket.gethostname()
    try:
        if Path(probe).read_text() != token:
            return f"{node} reads another {probe}"
        Path(f"{probe}.{node_id}").write_text(token)
    except OSError as err:
        return f"{node}: {err.strerror or err}"
    return None


class RayPool:
    """Each run one Ray task: num_cpus = the run's threads, one GPU where the cluster has GPUs, retried when its
    worker dies (max_retries), never for an error the run raised or returned."""

    def __init__(self, *, threads: int | None, folders, address: str | None, gpus_per_run: int | None, env: dict):
        ray = self._ray = _require("ray", "ray")
        dashboard = None
        if not ray.is_initialized():  # default: join the local instance (RAY_ADDRESS, `ray start`), else start one
            try:
                dashboard = getattr(ray.init(address=address, log_to_driver=False), "dashboard_url", None)
            except (ConnectionError, ValueError, RuntimeError) as err:  # no cluster there, a malformed address
                reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise SettingsError(f"--launcher ray could not join a Ray cluster at --ray_address "
                                    f"{address or '(local)'}: {reason}") from None
        resources = ray.cluster_resources()
        gpus = (1 if resources.get("GPU") else 0) if gpus_per_run is None else gpus_per_run
        dashboard = dashboard or _dashboard_url(ray)
        alive = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
        print(f"[ray] cluster of {len(alive)} node(s), {resources.get('CPU', 0):g} CPUs, "
              f"{resources.get('GPU', 0):g} GPUs; each run {threads or 1} CPU(s), {gpus} GPU(s); dashboard "
              f"{'http://' + dashboard if dashboard and '://' not in dashboard else dashboard or 'not running'}",
              flush=True)
        if not any(node.get("CPU", 0) >= (threads or 1) and node.get("GPU", 0) >= gpus for node in alive):
            raise SettingsError(f"no node of the Ray cluster has the {threads or 1} CPU(s) (--threads_per_run) and "
                                f"{gpus} GPU(s) (--gpus_per_run) that each run asks for")
        self._runtime_env = {"env_vars": dict(env)} if env else None  # the runs' workers start with it
        self._check_storage(_plan_folder(folders))
        self._task = ray.remote(run_on_node).options(
            num_cpus=threads or 1, num_gpus=gpus, max_retries=RETRIES, retry_exceptions=False,
            runtime_env=self._runtime_env)
        self._refs = {}

    def _check_storage(self, folder: Path) -> None:
        """Refuse, in one line, a plan folder that a node cannot read this machine's files from and write to."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self._ray
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        probe = folder / f".storage-check-{token}"
        probe.write_text(token)
        try:
            nodes = [node for node in ray.nodes() if node.get("Alive")]
            probes = [ray.remote(_probe_storage).options(
                num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                runtime_env=self._runtime_env,  # a worker the first run can reuse
            ).remote(str(probe), token, node["NodeID"]) for node in nodes]
            problems = [problem for problem in ray.get(probes) if problem]
            replies = list(folder.glob(f"{probe.name}.*"))
            if not problems and len(replies) < len(nodes):
                problems = [f"{len(nodes) - len(replies)} node(s) wrote files this machine does not see"]
        finally:
            for path in folder.glob(f"{probe.name}*"):
                path.unlink(missing_ok=True)
        if problems:
            raise SettingsError(f"the output folder {folder} is not storage every Ray node shares with this machine "
                                f"({problems[0]}): put --output_dir on a file system every node mounts at the same "
                                f"path (docs/cluster.md)")

    def submit(self, fn, stage: str, argv: list[str], log_file: str) -> concurrent.futures.Future:
        assert fn.__name__ == "run_in_worker", fn  # the only function run_plan hands a worker
        ref = self._task.remote(stage, argv, log_file, os.getcwd())
        future = ref.future()
        self._refs[future] = ref
        return future

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        """Like a process pool: the runs already started finish (an interrupt cancels them instead)."""
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            for ref in self._refs.values():
                self._ray.cancel(ref, force=True)
        concurrent.futures.wait(self._refs)
        return False


def _dashboard_url(ray) -> str | None:
    """The dashboard's address of the connected cluster (older Ray keeps it on the worker, not the context)."""
    try:
        return ray._private.worker.global_worker.node.address_info.get("webui_url")
    except Exception:  # noqa: BLE001  (a client connection or another Ray version: no address to show)
        return None


# --- SLURM through submitit -------------------------------------------------------------------------------------


class SubmititPool:
    """Each run one submitit job (SLURM, or the local executor): `threads` CPUs, `gpus_per_run` GPUs, `minutes`,
    its job files in RUN_DIR/slurm/. A job that ends without a result (its process killed, the node lost) is
    submitted again, up to RETRIES times; submitit requeues a job that reaches its time limit or is preempted."""

    def __init__(self, *, cluster: str, jobs: int, threads: int | None, partition: str | None, minutes: int,
                 gpus_per_run: int | None):
        launcher = "slurm-local" if cluster == "local" else "slurm"
        self._submitit = _require("submitit", launcher)
        self._cluster = cluster
        self._parameters = dict(timeout_min=minutes, cpus_per_task=threads or 1, gpus_per_node=gpus_per_run or 0,
                                tasks_per_node=1, nodes=1)
        if partition:
            self._parameters["slurm_partition"] = partition
        self._waiting = concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1))
        self._jobs = {}

    def _submit(self, stage: str, argv: list[str], log_file: str):
        run_dir = Path(argv[argv.index("--output_dir") + 1])
        executor = self._submitit.AutoExecutor(folder=run_dir / "slurm", cluster=self._cluster)
        executor.update_parameters(name=f"tlm-{run_dir.name}", **self._parameters)
        return executor.submit(SubmititRun(), stage, argv, log_file, os.getcwd())

    def submit(self, fn, stage: str, argv: list[str], log_file: str) -> concurrent.futures.Future:
        assert fn.__name__ == "run_in_worker", fn  # the only function run_plan hands a worker
        job = self._submit(stage, argv, log_file)
        print(f"[slurm] job {job.job_id}: {Path(log_file).parent}", flush=True)
        future = self._waiting.submit(self._result, job, stage, argv, log_file)
        self._jobs[future] = job
        return future

    def _result(self, job, stage, argv, log_file):
        from submitit.core.utils import FailedJobError, UncompletedJobError

        for attempt in range(1, RETRIES + 2):
            try:
                return job.result()
            except FailedJobError:  # the run raised: a bug, with the job's traceback
                raise
            except UncompletedJobError:  # no result: the job's process died
                if attempt > RETRIES:
                    raise
                dead = job.job_id
                job = self._submit(stage, argv, log_file)
                print(f"[slurm] job {dead} ended without a result; job {job.job_id} tries again "
                      f"({attempt}/{RETRIES}): {Path(log_file).parent}", flush=True)
        return None

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        """Like a process pool: the jobs already submitted finish (an interrupt cancels them instead)."""
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            for job in self._jobs.values():
                job.cancel(check=False)
        self._waiting.shutdown(wait=True)
        return False


class SubmititRun:
    """The callable of a submitit job: run_on_node, and on a timeout or preemption signal the same run requeued
    (submitit requeues a job whose callable has `checkpoint`), resuming from the newest complete checkpoint the run
    saved."""

    def __call__(self, stage: str, argv: list[str], log_file: str, cwd: str | None = None) -> str | None:
        return run_on_node(stage, argv, log_file, cwd)

    def checkpoint(self, *args, **kwargs):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)

