"""The training loop: ddsp's model and Trainer (one train step), our own loop around them.

Compared with ddsp's train_util.train: resume skips corrupt checkpoints, early stop uses
a windowed mean, summaries include the learning rate and audio, SIGTERM/SIGINT save a
checkpoint and exit with 143/130, gs:// outputs upload in the background, examples are
shuffled (not only files), and a NaN loss stops the run before it is checkpointed.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from ddsp_launch.common import gcs, gin_rules, presets
from ddsp_launch.common.model_files import MODEL_INFO, STATISTICS_NAMES
from ddsp_launch.common.paths import EVAL_LOG, RUN_END, TRAIN_SPEED, data_cache
from ddsp_launch.common.paths import join as paths_join
from ddsp_launch.common.errors import InputError
from ddsp_launch.trainer import checkpoints, evaluation
from ddsp_launch.trainer.cluster import ClusterInfo, OutputPaths
from ddsp_launch.trainer.ddsp_compat import import_ddsp
from ddsp_launch.trainer.outputs import OutputDir, Uploader
from ddsp_launch.trainer.config import EVAL_METRIC, TaskConfig

log = logging.getLogger("ddsp_launch.trainer")
EXIT_OK, EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 130, 143
SHUFFLE_BUFFER = 1000
UPLOAD_GRACE_SECS = 20  # leaves time to exit within 30 s of SIGTERM
CACHED_DATASETS = 3  # gs:// datasets kept in the local cache (most recently used)


def say(text: str) -> None:
    print(text, flush=True)


class _Stop:
    """SIGTERM / SIGINT: before the loop runs, stop at once; inside it, after this step."""

    def __init__(self):
        self.signal = None
        self.in_loop = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame):
        self.signal = signum
        if not self.in_loop:
            raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        return EXIT_SIGTERM if self.signal == signal.SIGTERM else EXIT_SIGINT


def stage_data(pattern: str, cache: Path, keep: int = CACHED_DATASETS) -> str:
    """A local file pattern for the training data. gs:// records are downloaded once into a
    cache folder named by their content (names, sizes and CRC32C), at their names below the
    pattern's folder (``gcs.local_paths`` checks every name), and reused by later runs and
    restarts; the ``keep`` most recently used datasets stay cached."""
    if not gcs.is_gcs(pattern):
        return pattern
    uri = gcs.GcsUri.parse(pattern)
    client = gcs.make_client()
    objects = gcs.describe_objects(uri, client)
    if not objects:
        raise gcs.NothingThere(f"--file_pattern {pattern} matches no objects", "check the bucket and prefix")
    names = [name for name, _, _ in objects]
    key = hashlib.sha256(json.dumps([uri.bucket, objects]).encode()).hexdigest()[:16]
    folder = cache / key
    targets = gcs.local_paths(uri.bucket, names, uri.folder, folder)
    nested = [n for n, t in zip(names, targets) if t.parent != folder]
    if nested:
        raise gcs.InputError(f"--file_pattern {pattern} matches records in subfolders ({', '.join(nested[:3])})",
                             "name the records of one folder, e.g. gs://BUCKET/DATASET/train.tfrecord*")
    if folder.is_dir():
        folder.touch()  # most recently used
        say(f"reusing {len(names)} data files of {pattern} cached in {folder}")
        return str(folder / "*")
    cache.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".part", dir=cache))
    try:
        for name, target in zip(names, targets):
            gcs.download(gcs.GcsUri(uri.bucket, name), part / target.name, client)
        try:
            os.replace(part, folder)  # complete: only now does the cache hold it
        except OSError:  # another process cached the same data meanwhile
            pass
    finally:
        shutil.rmtree(part, ignore_errors=True)
    _evict(cache, keep)
    say(f"staged {len(names)} data files from {pattern} in {folder}")
    return str(folder / "*")


def _evict(cache: Path, keep: int) -> None:
    entries = sorted((p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def parse_gin(config: TaskConfig, file_pattern: str, restore_local: Path) -> None:
    """ddsp_run's layering: defaults, the restored run's operative config, the user's
    gin files, then the flags' bindings and the user's --gin_param (which win)."""
    import gin  # noqa: PLC0415

    for path in [gin_rules.ddsp_gin_dir(), *config.gin_search_path]:
        gin.add_config_file_search_path(str(path))
    with gin.unlock_config():
        gin.parse_config_file("optimization/base.gin")
        gin.parse_config_file("eval/basic.gin")
        operative = sorted(restore_local.glob("operative_config-*.gin"), key=lambda p: int(p.stem.split("-")[-1]))
        if operative:
            say(f"using the restored run's operative config {operative[-1]}")
            gin.parse_config(gin_rules.check_file(operative[-1], registry=True, fix=gin_rules.FIX_MODEL), skip_unknown=True)
        bindings = [
            f"batch_size = {config.batch_size}",
            f"learning_rate = {config.learning_rate}",
            f"TFRecordProvider.file_pattern = {file_pattern!r}",
            f"Trainer.checkpoints_to_keep = {config.checkpoints_to_keep}",
            *presets.get(config.model).provider_bindings,
            *config.gin_param,
        ]
        gin.parse_config_files_and_bindings(list(config.gin_file), bindings, skip_unknown=False)


def check_records_preset(pattern: str, model: str) -> None:
    """The first example's frames per second of audio tell which model preset a dataset was
    prepared for (what a dataset without our manifest, or one from gs://, has to go by)."""
    import tensorflow as tf  # noqa: PLC0415

    for record in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(pattern))[:1]).take(1):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        if "audio_16k" in feature and "f0_hz" in feature:
            found = presets.fitting(len(feature["audio_16k"].float_list.value), len(feature["f0_hz"].float_list.value))
            if found is not None:
                presets.check_dataset(model, found, f"the data {pattern}")


def make_strategy(info: ClusterInfo):
    import tensorflow as tf  # noqa: PLC0415

    if not info.multi_worker:
        return tf.distribute.MirroredStrategy()
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        cluster_spec=tf.train.ClusterSpec(info.cluster), task_type=info.task_type, task_id=info.task_index,
        num_accelerators={"GPU": len(tf.config.list_physical_devices("GPU"))}, rpc_layer="grpc",
    )
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def input_pipeline(provider, batch_size: int, n_files: int, n_workers: int):
    """ddsp's records, shuffled per example (ddsp shuffles file order only), batched,
    prefetched. With fewer files than workers, workers share the data by element."""
    import tensorflow as tf  # noqa: PLC0415

    ds = provider.get_dataset(shuffle=True)
    ds = ds.shuffle(SHUFFLE_BUFFER, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    if n_workers > 1 and n_files < n_workers:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = ds.with_options(options)
    return ds


def current_lr(optimizer) -> float:
    import tensorflow as tf  # noqa: PLC0415

    lr = optimizer.learning_rate  # a (mirrored) variable tracking the schedule, or the schedule
    if callable(lr) and not isinstance(lr, tf.Variable):
        lr = lr(optimizer.iterations)
    return float(tf.convert_to_tensor(lr).numpy())


class Summaries:
    """TensorBoard scalars (each loss, steps/s, learning rate) and audio, chief only."""

    def __init__(self, folder: OutputDir | None, model, sample_batch, audio: bool):
        import tensorflow as tf  # noqa: PLC0415

        self.folder = folder
        self.writer = tf.summary.create_file_writer(str(folder.local)) if folder else tf.summary.create_noop_writer()
        self.sample = sample_batch if audio and folder else None
        if self.sample is not None:
            self._reconstruct = tf.function(lambda batch: model.get_audio_from_outputs(model(batch, training=False)))

    def write(self, step: int, means: dict[str, float], steps_per_sec: float, lr: float) -> None:
        import tensorflow as tf  # noqa: PLC0415

        if self.folder is None:
            return
        with self.writer.as_default(step=step):
            for name, value in means.items():
                tf.summary.scalar(f"losses/{name}", value)
            tf.summary.scalar("steps_per_sec", steps_per_sec)
            tf.summary.scalar("learning_rate", lr)
            if self.sample is not None:
                audio = self._reconstruct(self.sample)
                tf.summary.audio("audio/original", self.sample["audio"][:1, :, None], 16000, max_outputs=1)
                tf.summary.audio("audio/reconstruction", audio[:1, :, None], 16000, max_outputs=1)
        self.writer.flush()
        self.folder.sync()


class Hypertune:
    def __init__(self, enabled: bool, tag: str):
        self.tag = tag
        self._hpt = None
        if enabled:
            import hypertune  # noqa: PLC0415

            self._hpt = hypertune.HyperTune()

    def report(self, value: float, step: int) -> None:
        if self._hpt is not None and math.isfinite(value):
            self._hpt.report_hyperparameter_tuning_metric(hyperparameter_metric_tag=self.tag, metric_value=value, global_step=step)

    def note_stop(self, reason: str) -> None:
        """Add why the run stopped to its last report (cloudml-hypertune writes its queue of
        reports as JSON lines; extra keys are kept beside the metric)."""
        if self._hpt is not None and self._hpt.metrics_queue:
            self._hpt.metrics_queue[-1]["stop_reason"] = reason
            self._hpt._dump_metrics_to_file()  # noqa: SLF001 - the package's own writer


def run(config: TaskConfig, info: ClusterInfo, paths: OutputPaths, trial_id: str | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    stop = _Stop()
    staging = Path(tempfile.mkdtemp(prefix="ddsp-launch-"))  # local copies of gs:// outputs: removed at exit
    try:
        return _train(config, info, paths, trial_id, stop, staging)
    except KeyboardInterrupt:
        say("stopped before training started; nothing to save")
        return stop.exit_code if stop.signal else EXIT_SIGINT
    except (gcs.StorageError, gcs.InputError, gcs.MissingDependencyError) as exc:  # InputError: bad names, no objects
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _train(config, info, paths, trial_id, stop, staging: Path) -> int:
    ddsp = import_ddsp()
    import gin  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    role = f"{info.task_type}:{info.task_index}" + (" (chief)" if info.is_chief else "")
    say(f"ddsp-launch trainer: {role}, trial {trial_id or '-'}, seed {config.seed}; checkpoints -> {paths.checkpoints}, "
        f"summaries -> {paths.summaries}")
    tf.keras.utils.set_random_seed(config.seed)  # Python, NumPy and TensorFlow: the weights and the examples' order
    strategy = make_strategy(info)  # first: MultiWorkerMirroredStrategy must precede other TF ops
    remote = any(gcs.is_gcs(p) for p in (paths.checkpoints, paths.summaries, paths.restore, paths.model))
    uploader = Uploader() if remote else None
    ckpt_dir = OutputDir(paths.checkpoints, uploader, staging / "out")
    restore_dir = ckpt_dir if paths.restore == paths.checkpoints else OutputDir(paths.restore, uploader, staging / "restore")
    found = checkpoints.find_restorable(restore_dir)
    if restore_dir.remote is not None:
        _fetch_operative_configs(restore_dir, resumes_here=restore_dir is ckpt_dir)
    local_pattern = stage_data(config.file_pattern, data_cache())
    try:
        check_records_preset(local_pattern, config.model)
        parse_gin(config, local_pattern, restore_dir.local)
    except (ValueError, KeyError, TypeError, IOError) as exc:
        print(f"error: the gin configuration is invalid: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:  # a restored operative config that gin_rules refuses
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code

    with strategy.scope():
        model = ddsp.training.models.get_model()
        trainer = ddsp.training.trainers.get_trainer_class()(model, strategy)
    provider = gin.query_parameter("train.data_provider").scoped_configurable_fn()
    n_workers = sum(len(hosts) for hosts in info.cluster.values()) or 1
    dataset = input_pipeline(provider, config.batch_size, len(tf.io.gfile.glob(local_pattern)), n_workers)
    dataset_iter = iter(trainer.distribute_dataset(dataset))
    t0 = time.perf_counter()
    trainer.build(next(dataset_iter))
    if found:
        with strategy.scope():
            trainer.get_checkpoint().restore(found[1])
        say(f"resumed from {found[1]} at step {int(trainer.step.numpy())}")
    else:
        say("no checkpoint to resume from: starting at step 0")

    step = int(trainer.step.numpy())
    saver = checkpoints.Saver(trainer.get_checkpoint(), ckpt_dir, config.checkpoints_to_keep) if info.is_chief else None
    summary_dir = OutputDir(paths.summaries, uploader, staging / "summaries") if info.is_chief else None
    sample = next(iter(provider.get_batch(1, shuffle=False, repeats=1))) if config.audio_summaries else None
    summaries = Summaries(summary_dir, model, sample, config.audio_summaries)
    if info.is_chief:
        ddsp.training.train_util.write_gin_config(summaries.writer, str(ckpt_dir.local), step)
        ckpt_dir.sync(sorted(ckpt_dir.local.glob("operative_config-*.gin")))
        _self_contained(config, ckpt_dir)
        (ckpt_dir.local / RUN_END).unlink(missing_ok=True)  # an earlier session's: this one writes its own at the end
    hpt = Hypertune(config.hypertune and info.is_chief, config.hypertune_metric)
    held_out = _held_out(config, info, model, ckpt_dir, step)
    if info.is_chief and held_out is None and (config.early_stop_patience or config.hypertune_metric == EVAL_METRIC):
        print(f"error: --early_stop_patience and --hypertune_metric {EVAL_METRIC} need a held-out eval split "
              f"({evaluation.eval_pattern(config.file_pattern)}); prepare the dataset with --eval-fraction 0.1", file=sys.stderr)
        return _finish(2, uploader, stop)
    eval_every = config.eval_every or config.steps_per_save
    evaluated_at = None

    window = collections.deque(maxlen=config.early_stop_window)
    sums, count, tick, saved_at = collections.defaultdict(float), 0, time.perf_counter(), step
    reason, code = "finished", EXIT_OK
    stop.in_loop = True
    say(f"training steps {step} -> {config.num_steps}, batch {config.batch_size} (set-up {time.perf_counter() - t0:.1f} s)")
    first = None  # (step, time) after this session's first step: its tracing is left out of the speed
    while step < config.num_steps:
        losses = {k: float(v) for k, v in trainer.train_step(dataset_iter).items()}
        step = int(trainer.step.numpy())
        first = first or (step, time.perf_counter())
        total = losses["total_loss"]
        if not math.isfinite(total):
            print(f"error: the loss became {total} at step {step}; lower --learning_rate. "
                  f"The last good checkpoint (step {saved_at}) is kept.", file=sys.stderr)
            if info.is_chief:
                _write_end(ckpt_dir, step, f"the loss became {total}", EXIT_FAILED, held_out.best.step if held_out else None)
            return _finish(EXIT_FAILED, uploader, stop)
        window.append(total)
        for k, v in losses.items():
            sums[k] += v
        count += 1
        mean = sum(window) / len(window)
        if step % config.log_every == 0 or step == config.num_steps:
            say(f"step {step}/{config.num_steps}  total_loss {total:.3f}  mean({len(window)}) {mean:.3f}")
        if step % config.steps_per_summary == 0:
            now = time.perf_counter()
            summaries.write(step, {k: v / count for k, v in sums.items()}, count / (now - tick), current_lr(trainer.optimizer))
            if config.hypertune_metric != EVAL_METRIC:
                hpt.report(mean, step)
            sums, count, tick = collections.defaultdict(float), 0, time.perf_counter()
        if config.early_stop_loss_value and len(window) == window.maxlen and mean <= config.early_stop_loss_value:
            reason = f"early stop: mean loss over {len(window)} steps {mean:.3f} <= {config.early_stop_loss_value}"
            break
        if stop.signal:
            reason, code = f"stopped by {signal.Signals(stop.signal).name}", stop.exit_code
            break
        if step % config.steps_per_save == 0 and saver:
            saver.save(step)
            saved_at = step
        if held_out is not None and step % eval_every == 0:
            saved_at = held_out.evaluate(step, saver, saved_at, summaries, hpt, train_loss=mean)
            evaluated_at = step
            if held_out.exhausted:
                reason = held_out.stop_reason()
                break
    stop.in_loop = False
    if info.is_chief:
        _write_speed(ckpt_dir, first, step, config.batch_size)
    if saver and saved_at != step:
        saver.save(step)
        saved_at = step
    if held_out is not None and evaluated_at != step and not stop.signal and step > held_out.started_at:
        held_out.evaluate(step, saver, saved_at, summaries, hpt, train_loss=sum(window) / len(window) if window else None)
    if window and step % config.steps_per_summary and config.hypertune_metric != EVAL_METRIC:  # not reported at this step yet
        hpt.report(sum(window) / len(window), step)
    hpt.note_stop(reason)
    where = f"checkpoint {ckpt_dir.destination}/{checkpoints.PREFIX}-{step}" if saver else "the chief saves checkpoints"
    if held_out is not None and held_out.best.step is not None:
        where += f"; best held-out checkpoint: step {held_out.best.step} ({checkpoints.BEST_DIR}/, {checkpoints.BEST_MARK})"
    say(f"{reason} at step {step}; {where}")
    if info.is_chief:
        _write_end(ckpt_dir, step, reason, code, held_out.best.step if held_out is not None else None)
    if info.is_chief and paths.model not in (paths.checkpoints,):
        best = held_out.best.step if held_out is not None else None  # the best by held-out loss, else the final checkpoint
        _export_model(ckpt_dir, OutputDir(paths.model, uploader, staging / "model"), step if best is None else best,
                      ckpt_dir.local / checkpoints.BEST_DIR if best is not None else None)
    return _finish(code, uploader, stop)


class HeldOut:
    """Evaluation on the eval split (chief only), the best checkpoint and the patience count."""

    def __init__(self, evaluator, ckpt_dir: OutputDir, patience: int, step: int):
        self.evaluator = evaluator
        self.ckpt_dir = ckpt_dir
        self.patience = patience
        self.started_at = step
        self.best = checkpoints.Best(ckpt_dir)
        # evaluations since the best, over this folder's earlier sessions (up to the resumed step)
        earlier = [e for e in evaluation.read_log(ckpt_dir.local) if e["step"] <= step]
        self.since_best = len([e for e in earlier if self.best.step is None or e["step"] > self.best.step])

    @property
    def exhausted(self) -> bool:
        return bool(self.patience) and self.since_best >= self.patience

    def stop_reason(self) -> str:
        return (f"early stop: the held-out spectral loss has not improved for {self.since_best} evaluations "
                f"(--early_stop_patience {self.patience}; best {self.best.loss:.4f} at step {self.best.step})")

    def evaluate(self, step: int, saver, saved_at: int, summaries: Summaries, hpt: Hypertune, train_loss: float | None = None) -> int:
        """Evaluate now; a new best is saved (if this step has no checkpoint yet) and kept. Returns saved_at.
        ``train_loss`` (the windowed training loss) goes into eval.jsonl beside the held-out figures."""
        result = self.evaluator.run()
        if train_loss is not None:
            result["train_loss"] = train_loss
        evaluation.write_summaries(summaries.writer, step, result)
        if summaries.folder is not None:
            summaries.folder.sync()
        improved = self.best.improves(result)
        if improved and saver is not None:
            if saved_at != step:
                saver.save(step)
                saved_at = step
            self.best.keep(step, result)
            self.since_best = 0
        else:
            self.since_best += 1
        path = evaluation.append_log(self.ckpt_dir.local, step, result)
        self.ckpt_dir.sync([path])
        say(f"eval at step {step}: {evaluation.describe(result)}"
            + ("  (best so far)" if improved else f"  (best: step {self.best.step}, {self.since_best} evaluation(s) since)"))
        if hpt.tag == EVAL_METRIC:
            hpt.report(result["spectral_loss"], step)
        return saved_at


def _held_out(config: TaskConfig, info: ClusterInfo, model, ckpt_dir: OutputDir, step: int) -> HeldOut | None:
    """The run's held-out evaluation, or None (with a message saying why) when it is off."""
    if not info.is_chief:
        return None
    pattern = evaluation.eval_pattern(config.file_pattern)
    if gcs.is_gcs(pattern):
        try:
            local = stage_data(pattern, data_cache())
        except gcs.NothingThere:
            local = None
    else:
        local = pattern if evaluation.local_eval_files(pattern) else None
    if local is None:
        say(evaluation.NO_EVAL_SPLIT.format(where=pattern))
        return None
    if info.multi_worker and config.early_stop_patience:
        raise gcs.InputError("--early_stop_patience works in single-machine runs only (the chief alone evaluates)",
                             "leave it out for multi-worker runs; the chief still evaluates and keeps the best checkpoint")
    evaluator = evaluation.Evaluator(model, local, config.batch_size, config.eval_examples, config.model, config.seed)
    every = f"every {config.eval_every} steps" if config.eval_every else "at each checkpoint"
    say(f"held-out evaluation {every} on up to {config.eval_examples} examples of {pattern} "
        f"(f0 of the resynthesis by {evaluator.estimator_name}); results in {ckpt_dir.destination}/{EVAL_LOG}")
    return HeldOut(evaluator, ckpt_dir, config.early_stop_patience, step)


def _self_contained(config: TaskConfig, ckpt_dir: OutputDir) -> None:
    """Make the model folder self-contained: the dataset statistics (transfer and export need
    them) copied from the training data's folder, and model.json (the preset, its frame rate).
    Statistics already there are kept (never replaced by another dataset's), with a warning."""
    preset = presets.get(config.model)
    info = {"model": preset.name, "frame_rate": preset.frame_rate, "padding": preset.padding,
            "gin_file": list(config.gin_file), "file_pattern": config.file_pattern}
    info_path = ckpt_dir.local / MODEL_INFO
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    copies = [info_path]
    data_folder = config.file_pattern.rsplit("/", 1)[0] if "/" in config.file_pattern else "."
    for name in STATISTICS_NAMES:
        target = ckpt_dir.local / name
        source = gcs_stats = None
        if gcs.is_gcs(data_folder):
            gcs_stats = gcs.GcsUri.parse(paths_join(data_folder, name))
        elif (Path(data_folder).expanduser() / name).is_file():
            source = Path(data_folder).expanduser() / name
        else:
            continue
        try:
            staged = target.with_name(f".{name}.part")
            if gcs_stats is not None:
                gcs.download(gcs_stats, staged, gcs.make_client())
            else:
                shutil.copyfile(source, staged)
        except (gcs.StorageError, gcs.NothingThere, OSError):
            Path(target.with_name(f".{name}.part")).unlink(missing_ok=True)
            continue
        if target.is_file() and target.read_bytes() != staged.read_bytes():
            staged.unlink()
            log.warning("%s holds other dataset statistics than %s/%s: kept as they are", target, data_folder, name)
        else:
            os.replace(staged, target)
            copies.append(target)
            say(f"copied the dataset statistics {data_folder}/{name} beside the checkpoints")
        break
    ckpt_dir.sync(copies)


def _fetch_operative_configs(folder: OutputDir, resumes_here: bool = False) -> None:
    """The remote run's operative configs; when it resumes into the same folder, also its
    eval.jsonl and best.json (small), so the best and the patience count carry on."""
    client = gcs.make_client()
    names = gcs.list_objects(folder.remote.child("operative_config-*.gin"), client)
    if resumes_here:
        names += [n for mark in (EVAL_LOG, checkpoints.BEST_MARK) for n in gcs.list_objects(folder.remote.child(mark), client)
                  if n == folder.remote.child(mark).path]
    for name, target in zip(names, gcs.local_paths(folder.remote.bucket, names, folder.remote.folder, folder.local)):
        gcs.download(gcs.GcsUri(folder.remote.bucket, name), target, client)


def _export_model(ckpt_dir: OutputDir, model_dir: OutputDir, step: int, where: Path | None = None) -> None:
    """Copy a checkpoint (the final one, or the best from ``where``), the operative config and the
    model folder's own files (statistics, model.json, best.json) to AIP_MODEL_DIR."""
    import shutil  # noqa: PLC0415

    extra = [ckpt_dir.local / n for n in (*STATISTICS_NAMES, MODEL_INFO, checkpoints.BEST_MARK) if (ckpt_dir.local / n).is_file()]
    files = [*(where or ckpt_dir.local).glob(f"{checkpoints.PREFIX}-{step}.*"), *ckpt_dir.local.glob("operative_config-*.gin"), *extra]
    copies = []
    for f in files:
        shutil.copy2(f, model_dir.local / f.name)
        copies.append(model_dir.local / f.name)
    model_dir.sync(sorted(copies, key=lambda p: p.suffix == ".index"))


def _write_end(folder: OutputDir, step: int, reason: str, code: int, best_step: int | None) -> None:
    """run_end.json beside the checkpoints: why this session stopped (the launcher puts it in the run record)."""
    path = folder.local / RUN_END
    path.write_text(json.dumps({"step": step, "reason": reason, "exit_code": code, "best_step": best_step}) + "\n")
    folder.sync([path])


def _write_speed(folder: OutputDir, first: tuple[int, float] | None, step: int, batch_size: int) -> None:
    """train_speed.json beside the checkpoints: steps per second after the first step (which
    traces the graph), checkpoints and summaries included; what a local run's estimate uses."""
    if first is None or step <= first[0]:
        return
    seconds = time.perf_counter() - first[1]
    speed = {"steps": step - first[0], "seconds": round(seconds, 3), "steps_per_sec": round((step - first[0]) / seconds, 4),
             "batch_size": batch_size, "cpus": os.cpu_count()}
    path = folder.local / TRAIN_SPEED
    path.write_text(json.dumps(speed, indent=1) + "\n")
    say(f"speed: {speed['steps_per_sec']:.3g} steps/s over steps {first[0] + 1}-{step} (batch {batch_size})")
    folder.sync([path])


def _finish(code: int, uploader: Uploader | None, stop: _Stop) -> int:
    if uploader is not None:
        waited = time.perf_counter()
        done = uploader.close(timeout=UPLOAD_GRACE_SECS if stop.signal else None)
        say(f"uploads {'finished' if done else 'NOT finished'} ({time.perf_counter() - waited:.1f} s)")
        if uploader.errors:
            print("error: some uploads failed:\n  " + "\n  ".join(uploader.errors[:10]), file=sys.stderr)
            return code or 3
    return code
